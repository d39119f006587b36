//! Small text writers that need no `core::fmt` (whose machinery the wasm builds do without):
//! decimal numbers, and JSON strings escaped exactly as serde_json escapes them. Used for field
//! paths, the browser package's JSON writer and the worker's log line.

/// The byte offset of the first `needle` in `hay`. A plain scan: `str::find` with a string
/// needle brings core's two-way searcher (~700 B gzip) into the wasm builds for a few short
/// searches.
#[must_use]
pub fn find(hay: &str, needle: &str) -> Option<usize> {
    let n = needle.as_bytes();
    if n.is_empty() {
        return Some(0);
    }
    hay.as_bytes().windows(n.len()).position(|w| w == n)
}

/// The byte offset of the last `needle` in `hay` (a plain scan, as [`find`]).
#[must_use]
pub fn rfind(hay: &str, needle: &str) -> Option<usize> {
    let n = needle.as_bytes();
    if n.is_empty() {
        return Some(hay.len());
    }
    hay.as_bytes().windows(n.len()).rposition(|w| w == n)
}

/// Appends `n` in decimal to `out` (paths like `items[12]` without `format!`).
pub fn push_decimal(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

/// Appends `s` as a quoted JSON string, escaped as serde_json escapes it: `"`, `\` and the
/// control characters (`\b \f \n \r \t`, else `\u00xx` in lower case); everything else,
/// `/` and non-ASCII included, as it is.
pub fn push_json_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push('"');
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'\n' => 'n',
            b'\r' => 'r',
            b'\t' => 't',
            0x08 => 'b',
            0x0c => 'f',
            0..=0x1f => 'u',
            _ => continue,
        };
        // Escapes are ASCII, so `i` is a character boundary.
        out.push_str(s.get(plain..i).unwrap_or_default());
        out.push('\\');
        out.push(short);
        if short == 'u' {
            out.push_str("00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        plain = i + 1;
    }
    out.push_str(s.get(plain..).unwrap_or_default());
    out.push('"');
}

#[cfg(test)]
mod tests {
    #[test]
    fn find_matches_str_find() {
        for (hay, needle) in [
            ("https://x/y", "://"),
            ("a at line 3 at line 4", " at line "),
            ("", "x"),
            ("abc", ""),
            ("ab", "abc"),
            ("åäö://", "://"),
            ("::/", "://"),
        ] {
            assert_eq!(super::find(hay, needle), hay.find(needle), "{hay:?} {needle:?}");
        }
    }

    use super::*;

    #[test]
    fn decimals() {
        for n in [0, 7, 10, 12_345, u64::MAX] {
            let mut s = String::new();
            push_decimal(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }

    #[test]
    fn json_strings_are_escaped_as_serde_json_escapes_them() {
        let all: String = (0u32..0x100).filter_map(char::from_u32).collect();
        for s in ["", "plain", "a\"b\\c/d", "é😀 </script>", all.as_str()] {
            let mut out = String::new();
            push_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap());
        }
    }
}
