//! A minimal JSON codec: enough for the filesystem helper's objects, arrays, strings and
//! numbers, and a JWT's claims. In wasm the JS engine's `JSON.parse` and `JSON.stringify`
//! do the work (a parser of our own was 1.5 KB gzip of the npm package); natively a small
//! hand-written parser does (serde_json would cost more wasm than the SDK's uses of JSON).

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// Any number.
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Value>),
    /// An object, keys in order.
    Obj(Vec<(String, Value)>),
}

impl Value {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    /// The string, if a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The number, if a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            _ => None,
        }
    }
    /// The items, if an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Arr(a) => Some(a),
            _ => None,
        }
    }
}

/// `s` as a JSON string literal: by the JS engine in wasm (`JSON.stringify`), which
/// escapes as the hand-written version below does (quotes, backslashes, control
/// characters; the rest as it is).
#[cfg(target_arch = "wasm32")]
pub fn quote(s: &str) -> String {
    js_sys::JSON::stringify(&wasm_bindgen::JsValue::from_str(s))
        .map(String::from)
        .unwrap_or_default()
}

/// `s` as a JSON string literal.
#[cfg(not(target_arch = "wasm32"))]
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const MAX_DEPTH: usize = 64;

/// Parses one JSON document (surrounding whitespace allowed): in wasm by the JS
/// engine's `JSON.parse`, which keeps the parser below (1.5 KB gzip) out of the package;
/// the same values, depth limit and refusal of anything but one JSON document.
#[cfg(target_arch = "wasm32")]
pub fn parse(input: &[u8]) -> Result<Value, String> {
    // lenient with bytes that are not UTF-8, as the parser below is (the helper prints such
    // file names lossily already)
    let text = crate::utf8::lossy(input);
    // throws a SyntaxError (or a RangeError when nested past the engine's stack)
    let v = js_sys::JSON::parse(&text)
        .map_err(|e| format!("invalid JSON: {}", crate::js::convert::error_text(&e)))?;
    from_js(&v, 0)
}

/// A value `JSON.parse` made, read with the SDK's readers of JS values (the same imports
/// as its option objects').
#[cfg(target_arch = "wasm32")]
fn from_js(v: &wasm_bindgen::JsValue, depth: usize) -> Result<Value, String> {
    use crate::js::convert::{elements, entries};
    if depth > MAX_DEPTH {
        return Err("invalid JSON: nested too deeply".into());
    }
    Ok(if let Some(b) = v.as_bool() {
        Value::Bool(b)
    } else if let Some(n) = v.as_f64() {
        Value::Num(n)
    } else if let Some(s) = v.as_string() {
        Value::Str(s)
    } else if let Some(items) = elements(v, "JSON").ok().flatten() {
        let mut out = Vec::with_capacity(items.len());
        for x in &items {
            out.push(from_js(x, depth + 1)?);
        }
        Value::Arr(out)
    } else if let Some(members) = entries(v, "JSON").ok().flatten() {
        let mut out = Vec::with_capacity(members.len());
        for (k, x) in &members {
            out.push((k.clone(), from_js(x, depth + 1)?));
        }
        Value::Obj(out)
    } else {
        Value::Null
    })
}

/// Parses one JSON document (surrounding whitespace allowed).
#[cfg(not(target_arch = "wasm32"))]
pub fn parse(input: &[u8]) -> Result<Value, String> {
    let mut p = Parser { s: input, i: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("trailing characters at {}", p.i));
    }
    Ok(v)
}

/// A JSON number's text as f64.
#[cfg(not(target_arch = "wasm32"))]
fn number(t: &str) -> Option<f64> {
    t.parse().ok()
}

#[cfg(not(target_arch = "wasm32"))]
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

#[cfg(not(target_arch = "wasm32"))]
impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("invalid JSON at {}: {what}", self.i))
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return self.err("nested too deeply");
        }
        self.ws();
        let Some(&c) = self.s.get(self.i) else {
            return self.err("unexpected end");
        };
        match c {
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.eat("}") {
                    return Ok(Value::Obj(members));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return self.err("expected a key");
                    }
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(":") {
                        return self.err("expected ':'");
                    }
                    let v = self.value(depth + 1)?;
                    members.push((k, v));
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("}") {
                        return Ok(Value::Obj(members));
                    }
                    return self.err("expected ',' or '}'");
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Ok(Value::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("]") {
                        return Ok(Value::Arr(items));
                    }
                    return self.err("expected ',' or ']'");
                }
            }
            b'"' => self.string().map(Value::Str),
            b't' if self.eat("true") => Ok(Value::Bool(true)),
            b'f' if self.eat("false") => Ok(Value::Bool(false)),
            b'n' if self.eat("null") => Ok(Value::Null),
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                std::str::from_utf8(&self.s[start..self.i])
                    .ok()
                    .and_then(number)
                    .map(Value::Num)
                    .ok_or_else(|| format!("invalid JSON at {start}: bad number"))
            }
            _ => self.err("unexpected character"),
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        match h {
            Some(v) => {
                self.i += 4;
                Ok(v)
            }
            None => self.err("bad \\u escape"),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1; // opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return self.err("unterminated string");
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return self.err("unterminated escape");
                    };
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
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) && self.eat("\\u") {
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    0xFFFD
                                }
                            } else {
                                hi
                            };
                            char::from_u32(cp).unwrap_or('\u{FFFD}')
                        }
                        _ => return self.err("bad escape"),
                    };
                    let mut b = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                }
                c => out.push(c),
            }
        }
        // The helper prints non-UTF-8 names lossily already; be lenient too.
        Ok(String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_parser_edge_cases() {
        assert_eq!(parse(b" null ").unwrap(), Value::Null);
        assert_eq!(
            parse(b"[true,false,-1.5e2]").unwrap().as_array().unwrap()[2],
            Value::Num(-150.0)
        );
        assert_eq!(
            parse(br#""\ud83d\ude00 \u00e9""#).unwrap(),
            Value::Str("😀 é".into())
        );
        assert!(parse(b"[1,]").is_err());
        assert!(parse(b"{\"a\" 1}").is_err());
        assert!(parse(b"1 2").is_err());
        assert!(parse(b"\"abc").is_err());
        assert!(parse(&[b'['; 1000]).is_err());
    }
}
