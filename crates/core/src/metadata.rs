//! Metadata (string→string key/values on enrollments and devices) and the
//! `key:value` filters of the list operations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::validate::{push_decimal, Validator};

/// Most keys one metadata object may hold.
pub const MAX_METADATA_KEYS: usize = 50;
/// Longest key, in characters.
pub const MAX_KEY_LEN: usize = 40;
/// Longest value, in characters.
pub const MAX_VALUE_LEN: usize = 500;
/// Most `metadata` filters in one list request (documented by Kustom).
pub const MAX_FILTERS: usize = 5;

/// String→string metadata. Keys are 1–40 of `A-Z a-z 0-9 _ . -` (so a
/// `key:value` filter is never ambiguous); values at most 500 characters; at most
/// 50 keys (see docs/decisions.md).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>", into = "BTreeMap<String, String>")]
pub struct Metadata(BTreeMap<String, String>);

/// Why a metadata object was refused (first problem found).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid metadata: {0}")]
pub struct InvalidMetadata(pub String);

/// Appends `s` quoted and escaped exactly as `format!("{s:?}")` writes it, but
/// without the `Debug` formatting machinery (which the browser build then does
/// not carry): `str`'s `Debug` escapes each character like `char::escape_debug`,
/// except that it leaves `'` alone.
pub(crate) fn push_debug_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '\'' {
            out.push(c);
        } else {
            out.extend(c.escape_debug());
        }
    }
    out.push('"');
}

/// A message made of text pieces, with `quoted` (as `{:?}`) after the first one.
fn with_quoted(before: &str, quoted: &str, after: &[&str]) -> String {
    let mut m = String::with_capacity(before.len() + quoted.len() + 48);
    m.push_str(before);
    push_debug_str(&mut m, quoted);
    for a in after {
        m.push_str(a);
    }
    m
}

/// `n` in decimal.
fn decimal(n: usize) -> String {
    let mut s = String::new();
    push_decimal(&mut s, n as u64);
    s
}

fn check_key(k: &str) -> Result<(), String> {
    if k.is_empty() || k.chars().count() > MAX_KEY_LEN {
        return Err(with_quoted("key ", k, &[" must be 1-", &decimal(MAX_KEY_LEN), " characters"]));
    }
    if !k.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')) {
        return Err(with_quoted("key ", k, &[" may contain only letters, digits, '_', '.' and '-'"]));
    }
    Ok(())
}

impl Metadata {
    /// Validates and wraps a map.
    pub fn new(map: BTreeMap<String, String>) -> Result<Self, InvalidMetadata> {
        if map.len() > MAX_METADATA_KEYS {
            return Err(InvalidMetadata(["at most ", &decimal(MAX_METADATA_KEYS), " keys"].concat()));
        }
        for (k, v) in &map {
            check_key(k).map_err(InvalidMetadata)?;
            if v.chars().count() > MAX_VALUE_LEN {
                let max = decimal(MAX_VALUE_LEN);
                return Err(InvalidMetadata(with_quoted("value of ", k, &[" must be at most ", &max, " characters"])));
            }
        }
        Ok(Self(map))
    }
    /// An empty object.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }
    /// The value of `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    /// Sets a value, keeping the limits (used by the emulator for `simulated=true`).
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), InvalidMetadata> {
        let mut next = self.0.clone();
        next.insert(key.to_owned(), value.to_owned());
        *self = Self::new(next)?;
        Ok(())
    }
    /// The entries.
    #[must_use]
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
    /// True when every filter matches (filters are AND-ed).
    #[must_use]
    pub fn matches(&self, filters: &[MetadataFilter]) -> bool {
        filters.iter().all(|f| self.get(&f.key) == Some(f.value.as_str()))
    }
}

impl TryFrom<BTreeMap<String, String>> for Metadata {
    type Error = InvalidMetadata;
    fn try_from(m: BTreeMap<String, String>) -> Result<Self, InvalidMetadata> {
        Self::new(m)
    }
}
impl From<Metadata> for BTreeMap<String, String> {
    fn from(m: Metadata) -> Self {
        m.0
    }
}

/// One `metadata=key:value` list filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MetadataFilter {
    /// The key to match.
    pub key: String,
    /// The exact value it must have.
    pub value: String,
}

impl MetadataFilter {
    /// Parses `key:value` (split at the first `:`; the value may contain more).
    pub fn parse(s: &str) -> Result<Self, InvalidMetadata> {
        let (k, v) =
            s.split_once(':').ok_or_else(|| InvalidMetadata(with_quoted("filter ", s, &[" must be key:value"])))?;
        check_key(k).map_err(InvalidMetadata)?;
        if v.chars().count() > MAX_VALUE_LEN {
            let max = decimal(MAX_VALUE_LEN);
            return Err(InvalidMetadata(["filter value must be at most ", &max, " characters"].concat()));
        }
        Ok(Self { key: k.to_owned(), value: v.to_owned() })
    }
}

impl TryFrom<String> for MetadataFilter {
    type Error = InvalidMetadata;
    fn try_from(s: String) -> Result<Self, InvalidMetadata> {
        Self::parse(&s)
    }
}
impl From<MetadataFilter> for String {
    fn from(f: MetadataFilter) -> String {
        [f.key.as_str(), ":", &f.value].concat()
    }
}

/// Checks a list of filters: at most [`MAX_FILTERS`], no key twice.
pub fn validate_filters(v: &mut Validator, path: &str, filters: &[MetadataFilter]) {
    if filters.len() > MAX_FILTERS {
        v.push(path, "too_many", ["at most ", &decimal(MAX_FILTERS), " metadata filters"].concat());
    }
    for (i, f) in filters.iter().enumerate() {
        if filters[..i].iter().any(|g| g.key == f.key) {
            let at = [path, "[", &decimal(i), "]"].concat();
            v.push(at, "duplicate_key", with_quoted("metadata key ", &f.key, &[" appears twice"]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_match() {
        let f = MetadataFilter::parse("store_id:123").unwrap();
        let mut m = Metadata::empty();
        m.insert("store_id", "123").unwrap();
        assert!(m.matches(std::slice::from_ref(&f)));
        assert!(!Metadata::empty().matches(&[f]));
        assert!(MetadataFilter::parse("nocolon").is_err());
        assert_eq!(MetadataFilter::parse("url:http://x").unwrap().value, "http://x");
    }

    #[test]
    fn quoting_matches_debug() {
        for s in [
            "",
            "plain",
            "a b",
            "it's",
            "say \"hi\"",
            "back\\slash",
            "tab\tnl\ncr\r\0",
            "\u{7f}\u{1b}",
            "é ü ß",
            "\u{301}e\u{301}",
            "\u{200b}\u{feff}",
            "日本",
            "🦀",
            "\u{10ffff}",
        ] {
            let mut q = String::new();
            push_debug_str(&mut q, s);
            assert_eq!(q, format!("{s:?}"), "{s:?}");
        }
        let long = "k".repeat(41);
        assert_eq!(check_key(&long).unwrap_err(), format!("key {long:?} must be 1-{MAX_KEY_LEN} characters"));
        assert_eq!(MetadataFilter::parse("a b").unwrap_err().0, format!("filter {:?} must be key:value", "a b"));
    }

    #[test]
    fn limits() {
        let mut big = BTreeMap::new();
        for i in 0..=MAX_METADATA_KEYS {
            big.insert(format!("k{i}"), String::new());
        }
        assert!(Metadata::new(big).is_err());
        assert!(serde_json::from_str::<Metadata>(r#"{"bad key":"x"}"#).is_err());
        let mut v = Validator::new();
        let dup = vec![MetadataFilter::parse("a:1").unwrap(), MetadataFilter::parse("a:2").unwrap()];
        validate_filters(&mut v, "metadata", &dup);
        assert_eq!(v.into_errors()[0].path, "metadata[1]");
    }
}
