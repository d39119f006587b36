//! Base64 (RFC 4648), standard and url-safe alphabets, strict about what it accepts.
//!
//! kipp needs four small uses of it: webhook secrets and signatures (standard alphabet), POS
//! tokens and their keys (url-safe), idempotency keys and ids. The `base64` crate's engines came
//! to ~2 KB gzip of the edge worker's wasm (a 256-byte table per alphabet and unrolled loops);
//! this is a plain loop over a 64-byte alphabet. Decoding accepts exactly what the `base64`
//! crate (0.22) accepts with the same settings, checked against it in the tests below: symbols
//! of one alphabet, no `=` inside the text, no lone final symbol, no bits set after the last
//! byte, and padding as [`Padding`] says.

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Which 64 symbols: RFC 4648 § 4 (`+/`) or § 5 (`-_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// `A–Z a–z 0–9 + /`.
    Standard,
    /// `A–Z a–z 0–9 - _`.
    UrlSafe,
}

/// The `=` padding a decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Exactly the padding an encoder writes (the text's length is a multiple of 4).
    Required,
    /// None at all.
    Forbidden,
    /// Any of none, part or all of it, but never more than an encoder would write.
    Optional,
}

impl Alphabet {
    fn symbols(self) -> &'static [u8; 64] {
        match self {
            Self::Standard => STANDARD,
            Self::UrlSafe => URL_SAFE,
        }
    }

    fn value(self, symbol: u8) -> Option<u32> {
        let v = match symbol {
            b'A'..=b'Z' => symbol - b'A',
            b'a'..=b'z' => symbol - b'a' + 26,
            b'0'..=b'9' => symbol - b'0' + 52,
            _ => {
                let (s62, s63) = match self {
                    Self::Standard => (b'+', b'/'),
                    Self::UrlSafe => (b'-', b'_'),
                };
                if symbol == s62 {
                    62
                } else if symbol == s63 {
                    63
                } else {
                    return None;
                }
            }
        };
        Some(u32::from(v))
    }
}

/// Appends the encoding of `bytes` to `out`, with `=` padding when `pad` is set.
pub fn encode_into(bytes: &[u8], alphabet: Alphabet, pad: bool, out: &mut String) {
    let symbols = alphabet.symbols();
    out.reserve(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0_u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        // One symbol per 6 bits the chunk holds: 2 for 1 byte, 3 for 2, 4 for 3.
        for i in 0..=chunk.len() {
            out.push(char::from(symbols[((n >> (18 - 6 * i)) & 63) as usize]));
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
}

/// The encoding of `bytes`, with `=` padding when `pad` is set.
#[must_use]
pub fn encode(bytes: &[u8], alphabet: Alphabet, pad: bool) -> String {
    let mut out = String::new();
    encode_into(bytes, alphabet, pad, &mut out);
    out
}

/// The bytes `text` encodes, or `None` when it is not base64 of `alphabet` with `padding`.
#[must_use]
pub fn decode(text: &str, alphabet: Alphabet, padding: Padding) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    let data = text.iter().rposition(|&b| b != b'=').map_or(&text[..0], |last| &text[..=last]);
    let pads = text.len() - data.len();
    // Symbols in the last group of four: 0 (a whole group) or 2–3; a lone symbol holds no byte.
    let tail = data.len() % 4;
    let full_pads = (4 - tail) % 4;
    let pads_ok = match padding {
        Padding::Required => pads == full_pads,
        Padding::Forbidden => pads == 0,
        Padding::Optional => pads <= full_pads,
    };
    if tail == 1 || !pads_ok {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    for group in data.chunks(4) {
        let mut n = 0_u32;
        for (i, &symbol) in group.iter().enumerate() {
            n |= alphabet.value(symbol)? << (18 - 6 * i);
        }
        // 6 bits per symbol, whole bytes only: 2 symbols hold 1 byte, 3 hold 2, 4 hold 3.
        let len = group.len() * 6 / 8;
        // The bits after the last byte must be 0, as an encoder leaves them.
        if n & (0xff_ffff >> (8 * len)) != 0 {
            return None;
        }
        out.extend_from_slice(&n.to_be_bytes()[1..=len]);
    }
    Some(out)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use ::base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use ::base64::engine::DecodePaddingMode;
    use ::base64::{alphabet, Engine as _};
    use proptest::prelude::*;

    fn oracle(a: Alphabet, padding: Padding) -> GeneralPurpose {
        let mode = match padding {
            Padding::Required => DecodePaddingMode::RequireCanonical,
            Padding::Forbidden => DecodePaddingMode::RequireNone,
            Padding::Optional => DecodePaddingMode::Indifferent,
        };
        let alphabet = match a {
            Alphabet::Standard => &alphabet::STANDARD,
            Alphabet::UrlSafe => &alphabet::URL_SAFE,
        };
        GeneralPurpose::new(
            alphabet,
            GeneralPurposeConfig::new().with_encode_padding(true).with_decode_padding_mode(mode),
        )
    }

    const ALPHABETS: [Alphabet; 2] = [Alphabet::Standard, Alphabet::UrlSafe];
    const PADDINGS: [Padding; 3] = [Padding::Required, Padding::Forbidden, Padding::Optional];

    #[test]
    fn rfc_4648_test_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes(), Alphabet::Standard, true), encoded);
            assert_eq!(encode(plain.as_bytes(), Alphabet::Standard, false), encoded.trim_end_matches('='));
            assert_eq!(decode(encoded, Alphabet::Standard, Padding::Required).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(encode(&[0xfb, 0xff], Alphabet::Standard, false), "+/8");
        assert_eq!(encode(&[0xfb, 0xff], Alphabet::UrlSafe, false), "-_8");
    }

    #[test]
    fn what_it_refuses() {
        let refused = |text: &str, padding| decode(text, Alphabet::Standard, padding).is_none();
        assert!(refused("Zg", Padding::Required), "padding missing");
        assert!(refused("Zg==", Padding::Forbidden), "padding present");
        assert!(refused("Zg===", Padding::Optional), "more padding than an encoder writes");
        assert!(refused("Zm9v=", Padding::Optional), "padding after a whole group");
        assert!(refused("Zh==", Padding::Required), "bits set after the last byte");
        assert!(refused("Z", Padding::Optional), "a lone symbol");
        assert!(refused("Zg=a", Padding::Optional), "a symbol after padding");
        assert!(refused("Z=g=", Padding::Optional), "padding inside");
        assert!(refused("Zm9-", Padding::Optional), "a symbol of the other alphabet");
        assert!(refused("==", Padding::Optional), "padding alone");
        assert!(refused("Zm 9v", Padding::Optional), "a space");
        assert_eq!(decode("Zg=", Alphabet::Standard, Padding::Optional).as_deref(), Some(&b"f"[..]));
    }

    /// Text made mostly of symbols of either alphabet and `=`, with a little of anything.
    fn text() -> impl Strategy<Value = String> {
        let symbol = prop_oneof![
            8 => prop::sample::select(b"ABZaz09+/-_=".to_vec()).prop_map(char::from),
            1 => any::<char>(),
        ];
        prop::collection::vec(symbol, 0..14).prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn encodes_as_the_base64_crate(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
            for a in ALPHABETS {
                let padded = oracle(a, Padding::Required).encode(&bytes);
                prop_assert_eq!(encode(&bytes, a, true), padded.clone());
                prop_assert_eq!(encode(&bytes, a, false), padded.trim_end_matches('='));
                prop_assert_eq!(decode(&padded, a, Padding::Required), Some(bytes.clone()));
            }
        }

        #[test]
        fn decodes_as_the_base64_crate(text in text()) {
            for a in ALPHABETS {
                for padding in PADDINGS {
                    prop_assert_eq!(decode(&text, a, padding), oracle(a, padding).decode(&text).ok(), "{:?} {:?}", a, padding);
                }
            }
        }

        #[test]
        fn decodes_every_tail_as_the_base64_crate(group in "[A-Za-z0-9+/]{0,4}", pads in 0_usize..4) {
            // Each possible last group, whatever its trailing bits, with 0–3 pads.
            let text = format!("Zm9v{group}{}", "=".repeat(pads));
            for padding in PADDINGS {
                prop_assert_eq!(decode(&text, Alphabet::Standard, padding), oracle(Alphabet::Standard, padding).decode(&text).ok());
            }
        }
    }
}
