//! Money: integer minor units, ISO 4217 currencies with their minor-unit
//! exponent, tax rates in basis points, and display formatting.

use serde::{Deserialize, Serialize};

/// The largest amount accepted: JavaScript's `Number.MAX_SAFE_INTEGER`, so an
/// amount survives the trip through JSON and the browser without rounding.
pub const MAX_AMOUNT: i64 = 9_007_199_254_740_991;

/// A non-negative amount in minor units (öre, cents), at most [`MAX_AMOUNT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Amount(i64);

/// What an amount must be: the message of [`InvalidAmount`], and of every amount field's
/// range error (`out_of_range`), on the server and in the browser alike.
pub const AMOUNT_RANGE: &str = "must be an integer from 0 to 9007199254740991 minor units";

/// Why a number is not a valid amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", AMOUNT_RANGE)]
pub struct InvalidAmount;

impl Amount {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// Builds an amount from minor units.
    pub fn new(minor: i64) -> Result<Self, InvalidAmount> {
        if (0..=MAX_AMOUNT).contains(&minor) {
            Ok(Self(minor))
        } else {
            Err(InvalidAmount)
        }
    }

    /// The value in minor units.
    #[must_use]
    pub fn minor(self) -> i64 {
        self.0
    }

    /// Checked addition that stays within the valid range.
    #[must_use]
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).and_then(|v| Self::new(v).ok())
    }
}

impl TryFrom<i64> for Amount {
    type Error = InvalidAmount;
    fn try_from(v: i64) -> Result<Self, InvalidAmount> {
        Self::new(v)
    }
}
impl From<Amount> for i64 {
    fn from(a: Amount) -> i64 {
        a.0
    }
}

/// A tax rate in basis points (2500 = 25 %), 0 to 10000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct TaxRate(u16);

/// What a tax rate must be: the message of [`InvalidTaxRate`] (see [`AMOUNT_RANGE`]).
pub const TAX_RATE_RANGE: &str = "must be an integer from 0 to 10000 basis points";

/// Why a number is not a valid tax rate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", TAX_RATE_RANGE)]
pub struct InvalidTaxRate;

impl TaxRate {
    /// Builds a rate from basis points.
    pub fn new(bp: i64) -> Result<Self, InvalidTaxRate> {
        u16::try_from(bp).ok().filter(|v| *v <= 10_000).map(Self).ok_or(InvalidTaxRate)
    }
    /// The rate in basis points.
    #[must_use]
    pub fn basis_points(self) -> u16 {
        self.0
    }

    /// The tax contained in a tax-inclusive `total`, as the exact fraction's
    /// floor and ceiling: `total × rate / (10000 + rate)`. A line's
    /// `total_tax_amount` is valid when it equals either (see docs/decisions.md).
    #[must_use]
    pub fn included_tax_bounds(self, total: Amount) -> (i64, i64) {
        let num = i128::from(total.0) * i128::from(self.0);
        let den = 10_000 + i128::from(self.0);
        let floor = num / den;
        let ceil = if num % den == 0 { floor } else { floor + 1 };
        // total ≤ 2^53 and rate ≤ 10^4, so both fit in i64.
        (i64::try_from(floor).unwrap_or(i64::MAX), i64::try_from(ceil).unwrap_or(i64::MAX))
    }

    /// True when `tax` is a valid included tax of `total`: either bound of
    /// [`TaxRate::included_tax_bounds`], checked without dividing
    /// (`|tax × (10000 + rate) − total × rate| < 10000 + rate`).
    #[must_use]
    pub fn is_included_tax(self, total: Amount, tax: i64) -> bool {
        let den = 10_000 + i64::from(self.0);
        if total.0 < 1 << 48 && (0..=total.0).contains(&tax) {
            // Both products stay below 2^48 × 20000 < 2^63.
            return (tax * den - total.0 * i64::from(self.0)).abs() < den;
        }
        let num = i128::from(total.0) * i128::from(self.0);
        let den = 10_000 + i128::from(self.0);
        (i128::from(tax) * den - num).abs() < den
    }

    /// The canonical included tax, rounded half up (what kipp computes for carts).
    #[must_use]
    pub fn included_tax(self, total: Amount) -> Amount {
        let num = i128::from(total.0) * i128::from(self.0);
        let den = 10_000 + i128::from(self.0);
        let v = (2 * num + den) / (2 * den);
        Amount(i64::try_from(v).unwrap_or(0))
    }
}

impl TryFrom<i64> for TaxRate {
    type Error = InvalidTaxRate;
    fn try_from(v: i64) -> Result<Self, InvalidTaxRate> {
        Self::new(v)
    }
}
impl From<TaxRate> for i64 {
    fn from(r: TaxRate) -> i64 {
        i64::from(r.0)
    }
}

/// An active ISO 4217 currency code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// Why a string is not a known currency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an active ISO 4217 currency code (three upper-case letters, e.g. SEK)")]
pub struct InvalidCurrency;

// Active ISO 4217 codes (fund and precious-metal codes left out), sorted for binary search.
const CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
    "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC",
    "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS",
    "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD",
    "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL",
    "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD",
    "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
    "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP",
    "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VED",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];
const ZERO_DECIMALS: &[&str] =
    &["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"];
const THREE_DECIMALS: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

impl Currency {
    /// Parses an upper-case ISO 4217 code.
    pub fn parse(code: &str) -> Result<Self, InvalidCurrency> {
        let b: [u8; 3] = code.as_bytes().try_into().map_err(|_| InvalidCurrency)?;
        if CURRENCIES.binary_search(&code).is_ok() {
            Ok(Self(b))
        } else {
            Err(InvalidCurrency)
        }
    }
    /// The three-letter code.
    #[must_use]
    pub fn code(&self) -> &str {
        // Only built from entries of CURRENCIES, which are ASCII.
        core::str::from_utf8(&self.0).unwrap_or("XXX")
    }
    /// Digits after the decimal point (SEK 2, JPY 0, KWD 3).
    #[must_use]
    pub fn minor_units(&self) -> u32 {
        let c = self.code();
        if ZERO_DECIMALS.contains(&c) {
            0
        } else if THREE_DECIMALS.contains(&c) {
            3
        } else {
            2
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = InvalidCurrency;
    fn try_from(s: String) -> Result<Self, InvalidCurrency> {
        Self::parse(&s)
    }
}
impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_owned()
    }
}
impl core::fmt::Display for Currency {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.code())
    }
}

struct Style {
    group: &'static str,
    decimal: char,
    symbol_first: bool,
    space: bool,
}

fn style_for(locale: &str) -> Style {
    let lang = locale.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    match lang.as_str() {
        "sv" | "nb" | "no" | "nn" | "fi" | "fr" | "pl" | "cs" | "sk" => {
            Style { group: "\u{a0}", decimal: ',', symbol_first: false, space: true }
        }
        "de" | "da" | "nl" | "es" | "it" | "pt" | "is" => {
            Style { group: ".", decimal: ',', symbol_first: false, space: true }
        }
        _ => Style { group: ",", decimal: '.', symbol_first: true, space: false },
    }
}

fn symbol(currency: &Currency, locale: &str) -> &'static str {
    let lang = locale.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    match (currency.code(), lang.as_str()) {
        ("SEK" | "NOK" | "DKK" | "ISK", "sv" | "nb" | "no" | "nn" | "da" | "is") => "kr",
        ("EUR", _) => "€",
        ("USD", "en") => "$",
        ("GBP", _) => "£",
        ("JPY", "ja" | "en") => "¥",
        _ => "",
    }
}

/// Formats minor units for display, e.g. `format_amount(240000, SEK, "sv-SE")`
/// → `2 400,00 kr`, `(123456, USD, "en-US")` → `$1,234.56`. Unknown locales use
/// the English style; currencies without a local symbol show their code.
#[must_use]
pub fn format_amount(minor: i64, currency: &Currency, locale: &str) -> String {
    // Built by hand rather than with `format!`, so the browser build carries no
    // padding/width formatting for this.
    let style = style_for(locale);
    let digits = currency.minor_units();
    let negative = minor < 0;
    let abs = minor.unsigned_abs();
    let scale = 10u64.pow(digits);
    let (whole, frac) = (abs / scale, abs % scale);
    let mut whole_text = String::new();
    crate::validate::push_decimal(&mut whole_text, whole);
    let mut number = String::with_capacity(whole_text.len() + whole_text.len() / 3 * 2 + 4);
    for (i, ch) in whole_text.chars().enumerate() {
        if i > 0 && (whole_text.len() - i).is_multiple_of(3) {
            number.push_str(style.group);
        }
        number.push(ch);
    }
    if digits > 0 {
        number.push(style.decimal);
        let mut f = String::new();
        crate::validate::push_decimal(&mut f, frac);
        for _ in f.len()..digits as usize {
            number.push('0');
        }
        number.push_str(&f);
    }
    let sym = symbol(currency, locale);
    let mut out = String::with_capacity(number.len() + 8);
    if negative {
        out.push('-');
    }
    match (sym.is_empty(), style.symbol_first) {
        (true, true) => {
            out.push_str(currency.code());
            out.push(' ');
            out.push_str(&number);
        }
        (true, false) => {
            out.push_str(&number);
            out.push('\u{a0}');
            out.push_str(currency.code());
        }
        (false, true) => {
            out.push_str(sym);
            out.push_str(&number);
        }
        (false, false) => {
            out.push_str(&number);
            if style.space {
                out.push('\u{a0}');
            }
            out.push_str(sym);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_table_is_sorted_and_exponents_known() {
        assert!(CURRENCIES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Currency::parse("SEK").unwrap().minor_units(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().minor_units(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().minor_units(), 3);
        assert!(Currency::parse("sek").is_err());
        assert!(Currency::parse("XYZ").is_err());
        assert!(Currency::parse("SEKK").is_err());
    }

    #[test]
    fn amount_bounds() {
        assert!(Amount::new(-1).is_err());
        assert!(Amount::new(MAX_AMOUNT).is_ok());
        assert!(Amount::new(MAX_AMOUNT + 1).is_err());
        assert!(Amount::new(MAX_AMOUNT).unwrap().checked_add(Amount::new(1).unwrap()).is_none());
        assert!(serde_json::from_str::<Amount>("-5").is_err());
        assert!(serde_json::from_str::<Amount>("1e30").is_err());
        assert!(serde_json::from_str::<Amount>("1.5").is_err());
    }

    #[test]
    fn docs_sample_tax() {
        let r = TaxRate::new(2500).unwrap();
        assert_eq!(r.included_tax_bounds(Amount::new(200_000).unwrap()), (40_000, 40_000));
        assert_eq!(r.included_tax(Amount::new(40_000).unwrap()).minor(), 8_000);
        // 999 × 2500 / 12500 = 199.8 → floor 199, ceil 200, half-up 200.
        assert_eq!(r.included_tax_bounds(Amount::new(999).unwrap()), (199, 200));
        assert_eq!(r.included_tax(Amount::new(999).unwrap()).minor(), 200);
        for total in [0, 1, 999, 200_000, 12_345_678, MAX_AMOUNT] {
            for bp in [0, 1, 600, 1200, 2500, 9999, 10_000] {
                let (r, t) = (TaxRate::new(bp).unwrap(), Amount::new(total).unwrap());
                let (lo, hi) = r.included_tax_bounds(t);
                for tax in [lo - 1, lo, hi, hi + 1] {
                    assert_eq!(r.is_included_tax(t, tax), tax == lo || tax == hi, "{total} {bp} {tax}");
                }
            }
        }
        assert!(TaxRate::new(10_001).is_err());
        assert!(TaxRate::new(-1).is_err());
    }

    #[test]
    fn formats() {
        let sek = Currency::parse("SEK").unwrap();
        assert_eq!(format_amount(240_000, &sek, "sv-SE"), "2\u{a0}400,00\u{a0}kr");
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(format_amount(123_456, &usd, "en-US"), "$1,234.56");
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(format_amount(1500, &jpy, "en"), "¥1,500");
        assert_eq!(format_amount(5, &sek, "en-US"), "SEK 0.05");
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(format_amount(-123_456_789, &eur, "de-DE"), "-1.234.567,89\u{a0}€");
        assert_eq!(format_amount(i64::MIN, &eur, "en"), "-€92,233,720,368,547,758.08");
    }
}
