//! A small JSON reader for what the package decodes (request objects the
//! caller passes, problem details the worker sends). It replaces serde's
//! deserializers in the browser build: smaller (no float formatting or
//! parsing, no path tracker) and it reports every broken field, not only the
//! first. Numbers are kept only when they are integers that fit in `i64`;
//! money is never fractional.

use std::borrow::Cow;

use kipp_core::validate::{join, push_decimal, FieldError};

/// Deepest nesting accepted.
const MAX_DEPTH: u32 = 64;

/// A parsed JSON value. Strings borrow from the JSON text unless they hold
/// escapes, so reading a request allocates little more than its containers.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// Any other number (fraction, exponent, out of range).
    Num,
    /// `NaN`, `Infinity` or `-Infinity` in the caller's object, which `JSON.stringify` would
    /// write as `null`; kipp-web's `jsonText` writes them as the strings `"\u0000NaN"`, … instead,
    /// so that a `NaN` amount is reported as one, not as a missing or absent field.
    NonFinite(&'static str),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Arr(Vec<Json<'a>>),
    /// An object, keys in document order.
    Obj(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// The value of `key` (the last one when repeated); `null` counts as absent.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.get_or_null(key).filter(|v| !matches!(v, Json::Null))
    }

    /// The value of `key` (the last one when repeated), `null` included.
    fn get_or_null(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Obj(m) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Int(_) => "a number",
            Json::Num => "a fractional or too large number",
            Json::NonFinite(name) => name,
            Json::Str(_) => "a string",
            Json::Arr(_) => "an array",
            Json::Obj(_) => "an object",
        }
    }
}

/// Parses JSON text.
pub fn parse(text: &str) -> Result<Json<'_>, &'static str> {
    let mut p = Parser { s: text, b: text.as_bytes(), i: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.i == p.b.len() {
        Ok(v)
    } else {
        Err("unexpected text after the JSON value")
    }
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    /// The next byte, 0 at the end (a 0 byte is never valid JSON outside strings).
    #[inline(always)]
    fn peek(&self) -> u8 {
        self.b.get(self.i).copied().unwrap_or(0)
    }

    #[inline(always)]
    fn ws(&mut self) {
        while matches!(self.peek(), b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    /// Skips whitespace, then eats `c` if it is next.
    #[inline(always)]
    fn eat_byte(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == c {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.b.get(self.i..self.i + lit.len()) == Some(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: u32) -> Result<Json<'a>, &'static str> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply");
        }
        self.ws();
        match self.peek() {
            b'{' => {
                self.i += 1;
                // Room for a whole order line without growing.
                let mut m = Vec::with_capacity(12);
                if self.eat_byte(b'}') {
                    return Ok(Json::Obj(m));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    if !self.eat_byte(b':') {
                        return Err("expected ':'");
                    }
                    m.push((k, self.value(depth + 1)?));
                    if self.eat_byte(b',') {
                        continue;
                    }
                    if self.eat_byte(b'}') {
                        return Ok(Json::Obj(m));
                    }
                    return Err("expected ',' or '}'");
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                if self.eat_byte(b']') {
                    return Ok(Json::Arr(a));
                }
                loop {
                    a.push(self.value(depth + 1)?);
                    if self.eat_byte(b',') {
                        continue;
                    }
                    if self.eat_byte(b']') {
                        return Ok(Json::Arr(a));
                    }
                    return Err("expected ',' or ']'");
                }
            }
            b'"' => self.string().map(|s| match &*s {
                "\0NaN" => Json::NonFinite("NaN"),
                "\0Infinity" => Json::NonFinite("Infinity"),
                "\0-Infinity" => Json::NonFinite("-Infinity"),
                _ => Json::Str(s),
            }),
            b't' if self.eat(b"true") => Ok(Json::Bool(true)),
            b'f' if self.eat(b"false") => Ok(Json::Bool(false)),
            b'n' if self.eat(b"null") => Ok(Json::Null),
            b'-' | b'0'..=b'9' => Ok(self.number()),
            _ => Err("expected a JSON value"),
        }
    }

    fn number(&mut self) -> Json<'a> {
        let neg = self.peek() == b'-';
        if neg {
            self.i += 1;
        }
        let start = self.i;
        while self.peek().is_ascii_digit() {
            self.i += 1;
        }
        let digits = &self.b[start..self.i];
        let mut integral = !digits.is_empty();
        while let b'.' | b'e' | b'E' | b'+' | b'-' | b'0'..=b'9' = self.peek() {
            self.i += 1;
            integral = false;
        }
        let digit = |d: &u8| i64::from(d - b'0');
        // Up to 18 digits cannot overflow i64 (and need no overflow checks).
        let v = if digits.len() <= 18 {
            Some(digits.iter().fold(0i64, |v, d| v * 10 + digit(d)))
        } else {
            digits.iter().try_fold(0i64, |v, d| v.checked_mul(10)?.checked_add(digit(d)))
        };
        match v {
            Some(v) if integral => Json::Int(if neg { -v } else { v }),
            _ => Json::Num,
        }
    }

    fn hex4(&mut self) -> Result<u32, &'static str> {
        let h = self.b.get(self.i..self.i + 4).ok_or("bad \\u escape")?;
        self.i += 4;
        h.iter().try_fold(0, |v, &c| Some(v * 16 + char::from(c).to_digit(16)?)).ok_or("bad \\u escape")
    }

    fn string(&mut self) -> Result<Cow<'a, str>, &'static str> {
        if self.peek() != b'"' {
            return Err("expected a string");
        }
        self.i += 1;
        let (s, b): (&'a str, &'a [u8]) = (self.s, self.b);
        let start = self.i;
        // Fast path: no escapes, borrowed. The text is a &str and the slice
        // ends at ASCII quotes, so it is on character boundaries.
        let end = b[start..].iter().position(|&c| c == b'"' || c == b'\\').map_or(b.len(), |n| start + n);
        self.i = end;
        if self.peek() == b'"' {
            self.i += 1;
            return s.get(start..end).map(Cow::Borrowed).ok_or("invalid UTF-8");
        }
        let mut out = b[start..end].to_vec();
        loop {
            let c = *self.b.get(self.i).ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = *self.b.get(self.i).ok_or("unterminated string")?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) && self.eat(b"\\u") {
                                let lo = self.hex4()?;
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF);
                            }
                            char::from_u32(cp).unwrap_or('\u{FFFD}')
                        }
                        _ => return Err("bad escape"),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).map(Cow::Owned).map_err(|_| "invalid UTF-8")
    }
}

/// Where a field's parent sits: the request itself (`""`), a named path, or
/// element `index` of the array at `base` (`order_items[3]`). The path text
/// is only built when an error is recorded.
#[derive(Debug, Clone, Copy)]
pub struct Parent<'p> {
    base: &'p str,
    index: Option<usize>,
}

/// The request itself.
pub const ROOT: Parent<'static> = Parent { base: "", index: None };

impl<'p> Parent<'p> {
    /// A named path.
    #[must_use]
    pub fn at(base: &'p str) -> Self {
        Self { base, index: None }
    }

    /// Element `index` of the array at `base`.
    #[must_use]
    pub fn item(base: &'p str, index: usize) -> Self {
        Self { base, index: Some(index) }
    }

    /// The path itself.
    #[must_use]
    pub fn path(&self) -> String {
        let mut p = self.base.to_owned();
        if let Some(i) = self.index {
            p.push('[');
            push_decimal(&mut p, i as u64);
            p.push(']');
        }
        p
    }

    /// The path of `key` inside it.
    #[must_use]
    pub fn join(&self, key: &str) -> String {
        match self.index {
            None => join(self.base, key),
            Some(_) => join(&self.path(), key),
        }
    }
}

/// Reads typed fields out of parsed JSON, collecting a [`FieldError`] (with
/// its path) for every field that is missing or of the wrong type.
#[derive(Debug, Default)]
pub struct Reader {
    /// Everything wrong so far.
    pub errors: Vec<FieldError>,
}

impl Reader {
    /// Records an error.
    pub fn err(&mut self, path: String, code: &str, message: &str) {
        self.errors.push(FieldError::new(path, code, message));
    }

    fn wrong(&mut self, path: String, want: &str, got: &Json) {
        let mut m = "must be ".to_owned();
        m.push_str(want);
        m.push_str(", not ");
        m.push_str(got.kind());
        self.err(path, "invalid", &m);
    }

    /// The object at `path`, or an error.
    pub fn object<'a, 'j>(&mut self, v: &'a Json<'j>, path: Parent<'_>) -> Option<&'a Json<'j>> {
        match v {
            Json::Obj(_) => Some(v),
            other => {
                self.wrong(path.path(), "an object", other);
                None
            }
        }
    }

    /// The value of `key`; a missing required field is an error. Paths are only built for errors.
    fn field<'a, 'j>(
        &mut self,
        o: &'a Json<'j>,
        parent: Parent<'_>,
        key: &str,
        required: bool,
    ) -> Option<&'a Json<'j>> {
        // `null` is an absent optional field (as serde reads an `Option`), but in a required
        // field it is a value of the wrong type, as the worker's decode says it.
        match o.get_or_null(key) {
            None if required => {
                self.err(parent.join(key), "required", "is required");
                None
            }
            Some(Json::Null) if !required => None,
            v => v,
        }
    }

    /// A string field.
    pub fn str(&mut self, o: &Json, parent: Parent<'_>, key: &str, required: bool) -> Option<String> {
        self.str_ref(o, parent, key, required).map(str::to_owned)
    }

    /// A string field, borrowed.
    pub fn str_ref<'a>(&mut self, o: &'a Json, parent: Parent<'_>, key: &str, required: bool) -> Option<&'a str> {
        match self.field(o, parent, key, required)? {
            Json::Str(s) => Some(s),
            other => {
                self.wrong(parent.join(key), "a string", other);
                None
            }
        }
    }

    /// An integer field.
    pub fn int(&mut self, o: &Json, parent: Parent<'_>, key: &str, required: bool) -> Option<i64> {
        match self.field(o, parent, key, required)? {
            Json::Int(n) => Some(*n),
            other => {
                self.wrong(parent.join(key), "an integer", other);
                None
            }
        }
    }

    /// A boolean field.
    pub fn bool(&mut self, o: &Json, parent: Parent<'_>, key: &str) -> Option<bool> {
        match self.field(o, parent, key, false)? {
            Json::Bool(b) => Some(*b),
            other => {
                self.wrong(parent.join(key), "true or false", other);
                None
            }
        }
    }

    /// An array field.
    pub fn arr<'a, 'j>(
        &mut self,
        o: &'a Json<'j>,
        parent: Parent<'_>,
        key: &str,
        required: bool,
    ) -> Option<&'a [Json<'j>]> {
        match self.field(o, parent, key, required)? {
            Json::Arr(a) => Some(a),
            other => {
                self.wrong(parent.join(key), "an array", other);
                None
            }
        }
    }

    /// A string field parsed by `parse`; a refusal becomes an `invalid` error with `reason`.
    pub fn parsed<T, E>(
        &mut self,
        o: &Json,
        parent: Parent<'_>,
        key: &str,
        required: bool,
        parse: impl Fn(&str) -> Result<T, E>,
        reason: impl Fn(E) -> String,
    ) -> Option<T> {
        let s = self.str_ref(o, parent, key, required)?;
        match parse(s) {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(parent.join(key), "invalid", &reason(e));
                None
            }
        }
    }

    /// An integer field checked by `make`.
    pub fn int_as<T, E>(
        &mut self,
        o: &Json,
        parent: Parent<'_>,
        key: &str,
        required: bool,
        make: impl Fn(i64) -> Result<T, E>,
        message: &str,
    ) -> Option<T> {
        let n = self.int(o, parent, key, required)?;
        match make(n) {
            Ok(v) => Some(v),
            Err(_) => {
                self.err(parent.join(key), "out_of_range", message);
                None
            }
        }
    }
}
