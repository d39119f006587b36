//! A small JSON reader for what the package decodes (request objects the
//! caller passes, problem details the worker sends). It replaces serde's
//! deserializers in the browser build: smaller (no float formatting or
//! parsing, no path tracker) and it reports every broken field, not only the
//! first. Numbers are kept only when they are integers that fit in `i64`;
//! money is never fractional.

use kipp_core::validate::{join, FieldError};

/// Deepest nesting accepted.
const MAX_DEPTH: u32 = 64;

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// Any other number (fraction, exponent, out of range).
    Num,
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in document order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// The value of `key` (the last one when repeated); `null` counts as absent.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v).filter(|v| **v != Json::Null),
            _ => None,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Int(_) => "a number",
            Json::Num => "a fractional or too large number",
            Json::Str(_) => "a string",
            Json::Arr(_) => "an array",
            Json::Obj(_) => "an object",
        }
    }
}

/// Parses JSON text.
pub fn parse(text: &str) -> Result<Json, &'static str> {
    let mut p = Parser { b: text.as_bytes(), i: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.i == p.b.len() {
        Ok(v)
    } else {
        Err("unexpected text after the JSON value")
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
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

    fn value(&mut self, depth: u32) -> Result<Json, &'static str> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply");
        }
        self.ws();
        match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.eat(b"}") {
                    return Ok(Json::Obj(m));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(b":") {
                        return Err("expected ':'");
                    }
                    m.push((k, self.value(depth + 1)?));
                    self.ws();
                    if self.eat(b"}") {
                        return Ok(Json::Obj(m));
                    }
                    if !self.eat(b",") {
                        return Err("expected ',' or '}'");
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.eat(b"]") {
                    return Ok(Json::Arr(a));
                }
                loop {
                    a.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b"]") {
                        return Ok(Json::Arr(a));
                    }
                    if !self.eat(b",") {
                        return Err("expected ',' or ']'");
                    }
                }
            }
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') if self.eat(b"true") => Ok(Json::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Json::Bool(false)),
            Some(b'n') if self.eat(b"null") => Ok(Json::Null),
            Some(b'-' | b'0'..=b'9') => Ok(self.number()),
            _ => Err("expected a JSON value"),
        }
    }

    fn number(&mut self) -> Json {
        let neg = self.eat(b"-");
        let mut v: Option<i64> = Some(0);
        let mut digits = 0;
        while let Some(d @ b'0'..=b'9') = self.b.get(self.i).copied() {
            v = v.and_then(|v| v.checked_mul(10)).and_then(|v| v.checked_add(i64::from(d - b'0')));
            self.i += 1;
            digits += 1;
        }
        let mut integral = digits > 0;
        while let Some(b'.' | b'e' | b'E' | b'+' | b'-' | b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
            integral = false;
        }
        match v {
            Some(v) if integral => Json::Int(if neg { -v } else { v }),
            _ => Json::Num,
        }
    }

    fn hex4(&mut self) -> Result<u32, &'static str> {
        let h = self.b.get(self.i..self.i + 4).ok_or("bad \\u escape")?;
        let s = core::str::from_utf8(h).map_err(|_| "bad \\u escape")?;
        self.i += 4;
        u32::from_str_radix(s, 16).map_err(|_| "bad \\u escape")
    }

    fn string(&mut self) -> Result<String, &'static str> {
        if !self.eat(b"\"") {
            return Err("expected a string");
        }
        let mut out = Vec::new();
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
        String::from_utf8(out).map_err(|_| "invalid UTF-8")
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
    pub fn object<'a>(&mut self, v: &'a Json, path: &str) -> Option<&'a Json> {
        match v {
            Json::Obj(_) => Some(v),
            other => {
                self.wrong(path.to_owned(), "an object", other);
                None
            }
        }
    }

    /// The value of `key`; a missing required field is an error. Paths are only built for errors.
    fn field<'a>(&mut self, o: &'a Json, parent: &str, key: &str, required: bool) -> Option<&'a Json> {
        let v = o.get(key);
        if v.is_none() && required {
            self.err(join(parent, key), "required", "is required");
        }
        v
    }

    /// A string field.
    pub fn str(&mut self, o: &Json, parent: &str, key: &str, required: bool) -> Option<String> {
        match self.field(o, parent, key, required)? {
            Json::Str(s) => Some(s.clone()),
            other => {
                self.wrong(join(parent, key), "a string", other);
                None
            }
        }
    }

    /// An integer field.
    pub fn int(&mut self, o: &Json, parent: &str, key: &str, required: bool) -> Option<i64> {
        match self.field(o, parent, key, required)? {
            Json::Int(n) => Some(*n),
            other => {
                self.wrong(join(parent, key), "an integer", other);
                None
            }
        }
    }

    /// A boolean field.
    pub fn bool(&mut self, o: &Json, parent: &str, key: &str) -> Option<bool> {
        match self.field(o, parent, key, false)? {
            Json::Bool(b) => Some(*b),
            other => {
                self.wrong(join(parent, key), "true or false", other);
                None
            }
        }
    }

    /// An array field.
    pub fn arr<'a>(&mut self, o: &'a Json, parent: &str, key: &str, required: bool) -> Option<(&'a [Json], String)> {
        let path = join(parent, key);
        match self.field(o, parent, key, required)? {
            Json::Arr(a) => Some((a, path)),
            other => {
                self.wrong(path, "an array", other);
                None
            }
        }
    }

    /// A string field parsed by `parse`; a refusal becomes an `invalid` error with `reason`.
    pub fn parsed<T, E>(
        &mut self,
        o: &Json,
        parent: &str,
        key: &str,
        required: bool,
        parse: impl Fn(&str) -> Result<T, E>,
        reason: impl Fn(E) -> String,
    ) -> Option<T> {
        let s = self.str(o, parent, key, required)?;
        match parse(&s) {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(join(parent, key), "invalid", &reason(e));
                None
            }
        }
    }

    /// An integer field checked by `make`.
    pub fn int_as<T, E>(
        &mut self,
        o: &Json,
        parent: &str,
        key: &str,
        required: bool,
        make: impl Fn(i64) -> Result<T, E>,
        message: &str,
    ) -> Option<T> {
        let n = self.int(o, parent, key, required)?;
        match make(n) {
            Ok(v) => Some(v),
            Err(_) => {
                self.err(join(parent, key), "out_of_range", message);
                None
            }
        }
    }
}
