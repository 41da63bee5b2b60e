//! Conversions of JS input, each failing with an `InvalidError` instead of panicking.
//!
//! Options objects are read field by field with `Reflect` ([`Fields`], [`FromJs`]) rather
//! than through serde-wasm-bindgen: measured, serde-wasm-bindgen, the serde visitors and
//! the float formatting of serde's error messages were ~20 KB gzip of the wasm, for a dozen
//! flat objects. tsify still derives the TypeScript interfaces (`Ts<T>` in signatures).
//!
//! Every read of a caller's value goes through a `catch` binding (`Reflect.get`,
//! `Array.isArray`, `Object.entries`): a getter or a Proxy trap that throws becomes an
//! `InvalidError` naming what could not be read. An exception let through the wasm would
//! skip Rust's destructors and leave borrows held, and the module unusable.

use js_sys::{Array, Reflect};
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

use crate::error::{Error, Result};

#[wasm_bindgen]
extern "C" {
    /// `Array.isArray`, which throws for a revoked Proxy.
    #[wasm_bindgen(catch, js_namespace = Array, js_name = isArray)]
    fn is_array(v: &JsValue) -> std::result::Result<bool, JsValue>;
    /// `Object.entries`, which runs the object's getters and Proxy traps.
    #[wasm_bindgen(catch, js_namespace = Object, js_name = entries)]
    fn object_entries(v: &JsValue) -> std::result::Result<Array, JsValue>;
    /// `Promise.resolve`, which reads a promise's `constructor` (a getter may throw).
    #[wasm_bindgen(catch, js_namespace = Promise, js_name = resolve)]
    pub fn promise_resolve(v: &JsValue) -> std::result::Result<js_sys::Promise, JsValue>;
}

/// Most elements read from one array (argv, ports, secrets): a Proxy can claim 2^32-1 of
/// them, which would be read one by one for hours.
pub const MAX_ELEMENTS: u32 = 1 << 20;

/// The error for a value whose getter or Proxy trap threw `e`.
#[inline(never)]
fn unreadable(what: &str, e: &JsValue) -> Error {
    let mut err = Error::invalid(format!("could not read {what}: it threw"));
    err.cause = Some(error_text(e)).filter(|t| !t.is_empty());
    err
}

/// `v[key]`, or an `InvalidError` if reading it threw.
pub fn get(v: &JsValue, key: &str, what: &str) -> Result<JsValue> {
    Reflect::get(v, &JsValue::from_str(key)).map_err(|e| unreadable(what, &e))
}

/// The elements of `v` if it is an array (`None` if not), each read safely.
pub fn elements(v: &JsValue, what: &str) -> Result<Option<Vec<JsValue>>> {
    if !v.is_object() || !is_array(v).unwrap_or(false) {
        return Ok(None);
    }
    let len = get(v, "length", what)?.as_f64().unwrap_or(0.0);
    if len > MAX_ELEMENTS as f64 {
        return Err(Error::invalid(format!(
            "{what} has more than {MAX_ELEMENTS} elements"
        )));
    }
    (0..len as u32)
        .map(|i| Reflect::get_u32(v, i).map_err(|e| unreadable(what, &e)))
        .collect::<Result<_>>()
        .map(Some)
}

/// A JS `Record<string, T>` in the object's own key order (keys are unique, as in JS;
/// a Vec rather than a map keeps BTreeMap and its sort out of the wasm).
pub type Record<T> = Vec<(String, T)>;

/// A value read from a JS options object (see `params`).
pub trait FromJs: Sized {
    /// Reads the value from the object behind `f`.
    fn from_js(f: &Fields) -> Result<Self>;
}

/// The fields of a JS object, each read with a type check; `undefined` and `null` are
/// absent (`None`), as optional properties are in TypeScript.
pub struct Fields<'a> {
    obj: &'a JsValue,
    what: &'a str,
}

impl<'a> Fields<'a> {
    /// The fields of `obj` (which must be an object), named `what` in errors.
    pub fn new(obj: &'a JsValue, what: &'a str) -> Result<Fields<'a>> {
        if !obj.is_object() {
            return Err(Error::invalid(format!("{what} must be an object")));
        }
        Ok(Fields { obj, what })
    }

    /// The value of `key`, if present; an `InvalidError` if reading it threw.
    pub fn get(&self, key: &str) -> Result<Option<JsValue>> {
        let v = Reflect::get(self.obj, &JsValue::from_str(key))
            .map_err(|e| unreadable(&format!("{}.{key}", self.what), &e))?;
        Ok((!v.is_undefined() && !v.is_null()).then_some(v))
    }

    fn bad(&self, key: &str, expected: &str) -> Error {
        Error::invalid(format!("invalid {}: {key} must be {expected}", self.what))
    }

    /// `f` reads the value: `Ok(None)` if it has the wrong type.
    fn read<T>(
        &self,
        key: &str,
        expected: &str,
        f: impl Fn(&JsValue) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => f(&v)?.map(Some).ok_or_else(|| self.bad(key, expected)),
        }
    }

    /// A string.
    pub fn string(&self, key: &str) -> Result<Option<String>> {
        self.read(key, "a string", |v| Ok(v.as_string()))
    }

    /// A boolean.
    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.read(key, "a boolean", |v| Ok(v.as_bool()))
    }

    /// A number.
    pub fn f64(&self, key: &str) -> Result<Option<f64>> {
        self.read(key, "a number", |v| Ok(v.as_f64()))
    }

    /// A whole number in 0..=2^32-1.
    pub fn u32(&self, key: &str) -> Result<Option<u32>> {
        self.read(key, "a non-negative integer", |v| Ok(as_u32(v)))
    }

    /// A `string[]`.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        self.read(key, "an array of strings", |v| {
            array_of(v, key, JsValue::as_string)
        })
    }

    /// A `number[]` of whole numbers in 0..=2^32-1.
    pub fn u32s(&self, key: &str) -> Result<Option<Vec<u32>>> {
        self.read(key, "an array of non-negative integers", |v| {
            array_of(v, key, as_u32)
        })
    }

    /// A `Record<string, string>`.
    pub fn record(&self, key: &str) -> Result<Option<Record<String>>> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => string_record(&v, key).map(Some),
        }
    }

    /// An object read as `T`.
    pub fn object<T: FromJs>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => T::from_js(&Fields::new(&v, key)?).map(Some),
        }
    }

    /// An array of objects read as `T`.
    pub fn objects<T: FromJs>(&self, key: &str) -> Result<Option<Vec<T>>> {
        let Some(v) = self.get(key)? else {
            return Ok(None);
        };
        let Some(items) = elements(&v, key)? else {
            return Err(self.bad(key, "an array"));
        };
        items
            .iter()
            .map(|x| T::from_js(&Fields::new(x, key)?))
            .collect::<Result<_>>()
            .map(Some)
    }

    /// A `Record<string, T>` of objects read as `T`.
    pub fn object_record<T: FromJs>(&self, key: &str) -> Result<Option<Record<T>>> {
        let Some(v) = self.get(key)? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for (k, x) in entries(&v, key)?.ok_or_else(|| self.bad(key, "an object"))? {
            out.push((k, T::from_js(&Fields::new(&x, key)?)?));
        }
        Ok(Some(out))
    }

    /// One of `names` (a string), as its index.
    pub fn one_of(&self, key: &str, names: &[&str], expected: &str) -> Result<Option<usize>> {
        self.read(key, expected, |v| {
            Ok(v.as_string()
                .and_then(|s| names.iter().position(|n| *n == s)))
        })
    }
}

fn as_u32(v: &JsValue) -> Option<u32> {
    let n = v.as_f64()?;
    (n.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&n)).then_some(n as u32)
}

/// `v` as an array of `f(element)`; `Ok(None)` if it is not an array or `f` refuses one.
fn array_of<T>(
    v: &JsValue,
    what: &str,
    f: impl Fn(&JsValue) -> Option<T>,
) -> Result<Option<Vec<T>>> {
    Ok(elements(v, what)?.and_then(|items| items.iter().map(f).collect()))
}

/// `Object.entries(v)` of a non-array object (`None` for anything else).
fn entries(v: &JsValue, what: &str) -> Result<Option<Vec<(String, JsValue)>>> {
    if !v.is_object() || is_array(v).unwrap_or(true) {
        return Ok(None);
    }
    let all = object_entries(v).map_err(|e| unreadable(what, &e))?;
    // A fresh array of fresh [key, value] arrays: nothing of the caller's left to throw.
    Ok(Some(
        all.iter()
            .map(|e| {
                let e: Array = e.unchecked_into();
                (e.get(0).as_string().unwrap_or_default(), e.get(1))
            })
            .collect(),
    ))
}

/// Options from an optional `Ts<T>`; `undefined`/`null` give the defaults.
pub fn options<T: Tsify + FromJs + Default>(v: Option<Ts<T>>, what: &str) -> Result<T> {
    match v {
        None => Ok(T::default()),
        Some(ts) => {
            let js = ts.js_value();
            if js.is_undefined() || js.is_null() {
                return Ok(T::default());
            }
            <T as FromJs>::from_js(&Fields::new(&js, what)?)
        }
    }
}

/// The `signal` property of an options object, if it is an `AbortSignal`.
pub fn signal_of(options: &JsValue) -> Result<Option<web_sys::AbortSignal>> {
    if !options.is_object() {
        return Ok(None);
    }
    let s = get(options, "signal", "options.signal")?;
    if s.is_undefined() || s.is_null() {
        return Ok(None);
    }
    // `instanceof` fails across realms (e.g. a Node AbortSignal polyfill); duck-type instead.
    // Its getters are only read by `js::with_signal`'s glue, which turns a throw into an
    // `InvalidError` too.
    let has_aborted =
        s.is_object() && Reflect::has(&s, &JsValue::from_str("aborted")).unwrap_or(false);
    if !has_aborted {
        return Err(Error::invalid("signal must be an AbortSignal"));
    }
    Ok(Some(s.unchecked_into()))
}

/// The `key` property of an options object if it is a function; `InvalidError` if it is
/// present and something else.
pub fn function_of(options: &JsValue, key: &str) -> Result<Option<js_sys::Function>> {
    if !options.is_object() {
        return Ok(None);
    }
    let f = get(options, key, key)?;
    if f.is_undefined() || f.is_null() {
        return Ok(None);
    }
    if !f.is_function() {
        return Err(Error::invalid(format!("{key} must be a function")));
    }
    Ok(Some(f.unchecked_into()))
}

/// The text of a thrown JS value: its `message` (an `Error`'s), a string, or "". Read with
/// `Reflect.get`: a thrown object's `message` getter may throw too.
pub fn error_text(v: &JsValue) -> String {
    if let Some(s) = v.as_string() {
        return s;
    }
    if !v.is_object() {
        return String::new();
    }
    Reflect::get(v, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_default()
}

/// The signal of an optional `Ts<T>` options object.
pub fn signal_of_ts<T: Tsify>(v: &Option<Ts<T>>) -> Result<Option<web_sys::AbortSignal>> {
    match v {
        None => Ok(None),
        Some(ts) => signal_of(&ts.js_value()),
    }
}

/// A required string argument.
pub fn string(v: &JsValue, what: &str) -> Result<String> {
    v.as_string()
        .ok_or_else(|| Error::invalid(format!("{what} must be a string")))
}

/// A required non-empty string argument.
pub fn nonempty_string(v: &JsValue, what: &str) -> Result<String> {
    let s = string(v, what)?;
    if s.is_empty() {
        return Err(Error::invalid(format!("{what} must not be empty")));
    }
    Ok(s)
}

/// A required `string[]` argument.
pub fn string_array(v: &JsValue, what: &str) -> Result<Vec<String>> {
    let Some(items) = elements(v, what)? else {
        return Err(Error::invalid(format!(
            "{what} must be an array of strings"
        )));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_string()
                .ok_or_else(|| Error::invalid(format!("{what}[{i}] must be a string")))
        })
        .collect()
}

/// A required `Record<string, string>` argument.
pub fn string_record(v: &JsValue, what: &str) -> Result<Record<String>> {
    let bad = || Error::invalid(format!("{what} must be an object of string values"));
    entries(v, what)?
        .ok_or_else(bad)?
        .into_iter()
        .map(|(k, x)| Ok((k, x.as_string().ok_or_else(bad)?)))
        .collect()
}

/// An optional non-negative millisecond count.
pub fn opt_ms(v: &JsValue, what: &str) -> Result<Option<f64>> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(ms) if ms.is_finite() && ms >= 0.0 => Ok(Some(ms)),
        _ => Err(Error::invalid(format!(
            "{what} must be a non-negative number"
        ))),
    }
}

/// A JS object `{ [k]: v }` from string pairs.
pub fn record<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> js_sys::Object {
    let obj = js_sys::Object::new();
    for (k, v) in pairs {
        let _ = js_sys::Reflect::set(&obj, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    obj
}
