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
///
/// Held as pairs sorted by key, not a `BTreeMap`: with at most 50 keys a
/// scan is as quick, and the browser package then carries no B-tree code
/// (~5 KB of wasm). Serde still reads and writes a JSON object, in key order.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>")]
pub struct Metadata(Vec<(String, String)>);

/// A JSON object in key order, written from the pairs (through a `BTreeMap` it would
/// pull a sort into every build that serializes metadata).
impl Serialize for Metadata {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl core::fmt::Debug for Metadata {
    /// As a map (`{"k": "v"}`), the way it printed when it was a `BTreeMap`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Why a metadata object was refused (first problem found).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid metadata: {0}")]
pub struct InvalidMetadata(pub String);

/// Appends `s` quoted the way `format!("{s:?}")` quotes it for everything a
/// person types: `"` and `\` escaped, `\t` `\n` `\r` `\0`, other control
/// characters as `\u{…}`, the rest as it is. (Rust's `Debug` also escapes
/// Unicode's non-printable and combining characters; that takes ~1.5 KB of
/// tables and the browser package does without them: docs/decisions.md.)
pub(crate) fn push_debug_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => {
                let n = u32::from(c);
                out.push_str("\\u{");
                let mut started = false;
                for shift in (0..8).rev().map(|i| i * 4) {
                    let d = (n >> shift) & 0xf;
                    if d != 0 || started || shift == 0 {
                        started = true;
                        out.push(char::from(HEX[d as usize]));
                    }
                }
                out.push('}');
            }
            c => out.push(c),
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
        Self::checked(map.into_iter().collect())
    }

    /// Validates key/value pairs in any order; of a key given twice, the last
    /// value counts (as in a JSON object).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, InvalidMetadata> {
        if pairs.len() > MAX_METADATA_KEYS {
            return Err(too_many_keys());
        }
        // Insertion sort, keeping the last of equal keys: at most 50 pairs,
        // and no sort routine in the browser build.
        let mut sorted: Vec<(String, String)> = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            match sorted.binary_search_by(|(have, _)| have.as_str().cmp(&k)) {
                Ok(i) => sorted[i].1 = v,
                Err(i) => sorted.insert(i, (k, v)),
            }
        }
        Self::checked(sorted)
    }

    /// Checks pairs already sorted by key, without repeats.
    fn checked(pairs: Vec<(String, String)>) -> Result<Self, InvalidMetadata> {
        if pairs.len() > MAX_METADATA_KEYS {
            return Err(too_many_keys());
        }
        for (k, v) in &pairs {
            check_key(k).map_err(InvalidMetadata)?;
            if v.chars().count() > MAX_VALUE_LEN {
                let max = decimal(MAX_VALUE_LEN);
                return Err(InvalidMetadata(with_quoted("value of ", k, &[" must be at most ", &max, " characters"])));
            }
        }
        Ok(Self(pairs))
    }
    /// An empty object.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }
    /// The value of `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    /// Sets a value, keeping the limits (used by the emulator for `simulated=true`).
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), InvalidMetadata> {
        let mut next = self.0.clone();
        next.push((key.to_owned(), value.to_owned()));
        *self = Self::from_pairs(next)?;
        Ok(())
    }
    /// The entries, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
    /// How many keys it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when it holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// True when every filter matches (filters are AND-ed).
    #[must_use]
    pub fn matches(&self, filters: &[MetadataFilter]) -> bool {
        filters.iter().all(|f| self.get(&f.key) == Some(f.value.as_str()))
    }
}

fn too_many_keys() -> InvalidMetadata {
    InvalidMetadata(["at most ", &decimal(MAX_METADATA_KEYS), " keys"].concat())
}

impl TryFrom<BTreeMap<String, String>> for Metadata {
    type Error = InvalidMetadata;
    fn try_from(m: BTreeMap<String, String>) -> Result<Self, InvalidMetadata> {
        Self::new(m)
    }
}
impl From<Metadata> for BTreeMap<String, String> {
    fn from(m: Metadata) -> Self {
        m.0.into_iter().collect()
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
    validate_filters_at(v, path, filters, None);
}

/// The `metadata` values of a query, read in order: every error's path is the value's place among
/// all of them (`metadata[2]`), the malformed ones counted too, so that it names what was sent.
#[derive(Debug, Default)]
pub struct QueryFilters {
    filters: Vec<MetadataFilter>,
    positions: Vec<usize>,
    seen: usize,
}

impl QueryFilters {
    /// Reads one `metadata` value (a malformed one is reported at once).
    pub fn push(&mut self, v: &mut Validator, value: &str) {
        match MetadataFilter::parse(value) {
            Ok(f) => {
                self.filters.push(f);
                self.positions.push(self.seen);
            }
            Err(e) => v.push(["metadata[", &decimal(self.seen), "]"].concat(), "invalid", e.0),
        }
        self.seen += 1;
    }

    /// The filters, after the checks of [`validate_filters`] (reported at the values' places).
    pub fn finish(self, v: &mut Validator) -> Vec<MetadataFilter> {
        validate_filters_at(v, "metadata", &self.filters, Some(&self.positions));
        self.filters
    }
}

/// [`validate_filters`] where `positions[i]` is filter `i`'s place among the values sent.
fn validate_filters_at(v: &mut Validator, path: &str, filters: &[MetadataFilter], positions: Option<&[usize]>) {
    if filters.len() > MAX_FILTERS {
        v.push(path, "too_many", ["at most ", &decimal(MAX_FILTERS), " metadata filters"].concat());
    }
    for (i, f) in filters.iter().enumerate() {
        if filters[..i].iter().any(|g| g.key == f.key) {
            let place = positions.and_then(|p| p.get(i).copied()).unwrap_or(i);
            let at = [path, "[", &decimal(place), "]"].concat();
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
        // Everything typed on a keyboard, and every control character, quotes as `{:?}` does.
        let ascii_and_controls: Vec<String> = (0u32..0xa0).filter_map(char::from_u32).map(String::from).collect();
        for s in ascii_and_controls.iter().map(String::as_str).chain([
            "",
            "plain",
            "a b",
            "it's",
            "say \"hi\"",
            "back\\slash",
            "tab\tnl\ncr\r\0",
            "\u{7f}\u{1b}",
            "é ü ß",
            "日本",
            "🦀",
        ]) {
            let mut q = String::new();
            push_debug_str(&mut q, s);
            assert_eq!(q, format!("{s:?}"), "{s:?}");
        }
        // Non-printable and combining characters stay as they are (`Debug` escapes them).
        for (s, want) in [
            ("\u{a0}", "\"\u{a0}\""),
            ("\u{301}e", "\"\u{301}e\""),
            ("\u{200b}\u{feff}", "\"\u{200b}\u{feff}\""),
            ("\u{10ffff}", "\"\u{10ffff}\""),
        ] {
            let mut q = String::new();
            push_debug_str(&mut q, s);
            assert_eq!(q, want);
        }
        let long = "k".repeat(41);
        assert_eq!(check_key(&long).unwrap_err(), format!("key {long:?} must be 1-{MAX_KEY_LEN} characters"));
        assert_eq!(MetadataFilter::parse("a b").unwrap_err().0, format!("filter {:?} must be key:value", "a b"));
    }

    #[test]
    fn pairs_are_sorted_and_the_last_of_a_repeated_key_counts() {
        let pairs = |p: &[(&str, &str)]| p.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let m = Metadata::from_pairs(pairs(&[("b", "1"), ("a", "2"), ("c", "3"), ("a", "4")])).unwrap();
        assert_eq!(m.iter().collect::<Vec<_>>(), [("a", "4"), ("b", "1"), ("c", "3")]);
        assert_eq!(m.get("a"), Some("4"));
        assert_eq!(format!("{m:?}"), r#"{"a": "4", "b": "1", "c": "3"}"#);
        let map: BTreeMap<String, String> = m.clone().into();
        assert_eq!(Metadata::new(map).unwrap(), m);
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"a":"4","b":"1","c":"3"}"#);
        assert_eq!(serde_json::from_str::<Metadata>(r#"{"c":"3","a":"4","b":"1"}"#).unwrap(), m);
        // The first bad key in key order is the one reported, as with a map.
        let err = Metadata::from_pairs(pairs(&[("z z", ""), ("a a", "")])).unwrap_err();
        assert_eq!(err.0, Metadata::new(pairs(&[("z z", ""), ("a a", "")]).into_iter().collect()).unwrap_err().0);
        assert!(err.0.contains("\"a a\""), "{}", err.0);
    }

    #[test]
    fn limits() {
        let mut big = BTreeMap::new();
        for i in 0..=MAX_METADATA_KEYS {
            big.insert(format!("k{i}"), String::new());
        }
        assert!(Metadata::from_pairs(big.clone().into_iter().collect()).is_err());
        assert!(Metadata::new(big).is_err());
        assert!(serde_json::from_str::<Metadata>(r#"{"bad key":"x"}"#).is_err());
        let mut v = Validator::new();
        let dup = vec![MetadataFilter::parse("a:1").unwrap(), MetadataFilter::parse("a:2").unwrap()];
        validate_filters(&mut v, "metadata", &dup);
        assert_eq!(v.into_errors()[0].path, "metadata[1]");
    }
}
