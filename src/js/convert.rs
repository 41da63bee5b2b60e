//! Conversions of JS input, each failing with an `InvalidError` instead of panicking.
//!
//! Options objects are read field by field with `Reflect` ([`Fields`], [`JsOptions`]) rather
//! than through serde-wasm-bindgen: measured, serde-wasm-bindgen, the serde visitors and
//! the float formatting of serde's error messages were ~20 KB gzip of the wasm, for a dozen
//! flat objects. tsify still derives the TypeScript interfaces (`Ts<T>` in signatures).
//!
//! Every read of a caller's value goes through a `catch` binding (`Reflect.get`,
//! `Array.isArray`, `Object.entries`): a getter or a Proxy trap that throws becomes an
//! `InvalidError` naming what could not be read. An exception let through the wasm would
//! skip Rust's destructors and leave borrows held, and the module unusable.

use std::time::Duration;

use js_sys::{Array, Reflect};
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

use crate::error::{Error, Result};

#[wasm_bindgen]
extern "C" {
    /// `Array.isArray`, which throws for a revoked Proxy.
    #[wasm_bindgen(catch, js_namespace = Array, js_name = isArray)]
    fn is_array(v: &JsValue) -> std::result::Result<bool, JsValue>;
    /// `Object.keys`, which runs a Proxy's traps.
    #[wasm_bindgen(catch, js_namespace = Object, js_name = keys)]
    fn object_keys(v: &JsValue) -> std::result::Result<Array, JsValue>;
    /// `Object.entries`, which runs the object's getters and Proxy traps.
    #[wasm_bindgen(catch, js_namespace = Object, js_name = entries)]
    fn object_entries(v: &JsValue) -> std::result::Result<Array, JsValue>;
    /// `Promise.resolve`, which reads a promise's `constructor` (a getter may throw).
    #[wasm_bindgen(catch, js_namespace = Promise, js_name = resolve)]
    pub(crate) fn promise_resolve(v: &JsValue) -> std::result::Result<js_sys::Promise, JsValue>;
}

/// Most elements read from one array (argv, ports, secrets): a Proxy can claim 2^32-1 of
/// them, which would be read one by one for hours.
pub(crate) const MAX_ELEMENTS: u32 = 1 << 20;

/// The error for a value whose getter or Proxy trap threw `e`.
#[inline(never)]
fn unreadable(what: &str, e: &JsValue) -> Error {
    let mut err = Error::invalid(format!("could not read {what}: it threw"));
    err.cause = Some(error_text(e)).filter(|t| !t.is_empty());
    err
}

/// `v[key]`, or an `InvalidError` if reading it threw.
pub(crate) fn get(v: &JsValue, key: &str, what: &str) -> Result<JsValue> {
    Reflect::get(v, &JsValue::from_str(key)).map_err(|e| unreadable(what, &e))
}

/// The elements of `v` if it is an array (`None` if not), each read safely.
pub(crate) fn elements(v: &JsValue, what: &str) -> Result<Option<Vec<JsValue>>> {
    if !v.is_object() || !is_array(v).unwrap_or(false) {
        return Ok(None);
    }
    let len = get(v, "length", what)?.as_f64().unwrap_or(0.0);
    if len > MAX_ELEMENTS as f64 {
        return Err(Error::invalid(format!(
            "{what} has more than {MAX_ELEMENTS} elements"
        )));
    }
    let mut out = Vec::with_capacity(len as usize);
    for i in 0..len as u32 {
        out.push(Reflect::get_u32(v, i).map_err(|e| unreadable(what, &e))?);
    }
    Ok(Some(out))
}

/// A JS `Record<string, T>` in the object's own key order (keys are unique, as in JS;
/// a Vec rather than a map keeps BTreeMap and its sort out of the wasm).
pub(crate) type Record<T> = Vec<(String, T)>;

/// A JS options object, declared for TypeScript by this type (tsify) and read into the
/// Rust API's options (`Value`) by [`JsOptions::read`]. `src/js/options.rs` checks that
/// the keys read are exactly the keys declared; the keys read are the object's options,
/// any other key is refused ([`options_of`]).
pub(crate) trait JsOptions: Tsify {
    /// What the object reads as.
    type Value: Default;
    /// Reads the value from the object behind `f`.
    fn read(f: &Fields) -> Result<Self::Value>;
}

enum Source<'a> {
    Object(&'a JsValue),
    /// Records the keys asked for, all absent: the options a reader knows.
    Keys(&'a std::cell::RefCell<Vec<String>>),
}

/// The fields of a JS object, each read with a type check; `undefined` and `null` are
/// absent (`None`), as optional properties are in TypeScript. The one reader of option
/// objects, with one wording for its errors: "invalid {what}: {key} must be {expected}".
pub(crate) struct Fields<'a> {
    src: Source<'a>,
    what: &'a str,
}

impl<'a> Fields<'a> {
    /// The fields of `obj` (which must be an object), named `what` in errors.
    pub(crate) fn new(obj: &'a JsValue, what: &'a str) -> Result<Fields<'a>> {
        if !obj.is_object() {
            return Err(Error::invalid(format!("{what} must be an object")));
        }
        Ok(Fields {
            src: Source::Object(obj),
            what,
        })
    }

    /// A reader that records the keys asked for and finds none of them.
    pub(crate) fn recorder(keys: &'a std::cell::RefCell<Vec<String>>) -> Fields<'a> {
        Fields {
            src: Source::Keys(keys),
            what: "options",
        }
    }

    /// The value of `key` unless it is `undefined` (a `null` is returned); an
    /// `InvalidError` if reading it threw.
    fn lookup(&self, key: &str) -> Result<Option<JsValue>> {
        match &self.src {
            Source::Object(obj) => {
                let v = Reflect::get(obj, &JsValue::from_str(key))
                    .map_err(|e| unreadable(&format!("{}.{key}", self.what), &e))?;
                Ok((!v.is_undefined()).then_some(v))
            }
            Source::Keys(keys) => {
                keys.borrow_mut().push(key.to_string());
                Ok(None)
            }
        }
    }

    /// The value of `key`, if present (neither `undefined` nor `null`).
    fn get(&self, key: &str) -> Result<Option<JsValue>> {
        Ok(self.lookup(key)?.filter(|v| !v.is_null()))
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
    pub(crate) fn string(&self, key: &str) -> Result<Option<String>> {
        self.read(key, "a string", |v| Ok(v.as_string()))
    }

    /// A boolean.
    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.read(key, "a boolean", |v| Ok(v.as_bool()))
    }

    /// A number.
    pub(crate) fn f64(&self, key: &str) -> Result<Option<f64>> {
        self.read(key, "a number", |v| Ok(v.as_f64()))
    }

    /// A whole number in 0..=2^32-1.
    pub(crate) fn u32(&self, key: &str) -> Result<Option<u32>> {
        self.read(key, "a non-negative integer", |v| Ok(as_u32(v)))
    }

    /// A millisecond count (`...Ms`): a non-negative number.
    pub(crate) fn duration(&self, key: &str) -> Result<Option<Duration>> {
        self.read(key, "a non-negative number of milliseconds", |v| {
            Ok(as_duration(v))
        })
    }

    /// A millisecond count that may be `null` (`Some(None)`), unlike a missing one (`None`).
    pub(crate) fn nullable_duration(&self, key: &str) -> Result<Option<Option<Duration>>> {
        match self.lookup(key)? {
            None => Ok(None),
            Some(v) if v.is_null() => Ok(Some(None)),
            Some(v) => as_duration(&v)
                .map(|d| Some(Some(d)))
                .ok_or_else(|| self.bad(key, "a non-negative number of milliseconds or null")),
        }
    }

    /// A function (`typeof`, not `instanceof`, which a Proxy's trap could make throw).
    pub(crate) fn function(&self, key: &str) -> Result<Option<js_sys::Function>> {
        self.read(key, "a function", |v| {
            Ok(v.is_function().then(|| v.clone().unchecked_into()))
        })
    }

    /// A `string[]`.
    pub(crate) fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        self.read(key, "an array of strings", |v| {
            array_of(v, key, JsValue::as_string)
        })
    }

    /// A `number[]` of whole numbers in 0..=2^32-1.
    pub(crate) fn u32s(&self, key: &str) -> Result<Option<Vec<u32>>> {
        self.read(key, "an array of non-negative integers", |v| {
            array_of(v, key, as_u32)
        })
    }

    /// A `Record<string, string>`.
    pub(crate) fn record(&self, key: &str) -> Result<Option<Record<String>>> {
        self.read(key, "an object of string values", |v| {
            string_entries(v, key)
        })
    }

    /// An SDK object (an instance of one of the package's classes), read by `handle`.
    pub(crate) fn handle<T>(
        &self,
        key: &str,
        expected: &str,
        handle: impl Fn(&JsValue) -> Option<T>,
    ) -> Result<Option<T>> {
        self.read(key, expected, |v| Ok(handle(v)))
    }

    /// An array of SDK objects.
    pub(crate) fn handles<T>(
        &self,
        key: &str,
        expected: &str,
        handle: impl Fn(&JsValue) -> Option<T>,
    ) -> Result<Option<Vec<T>>> {
        self.read(key, expected, |v| array_of(v, key, &handle))
    }

    /// A `Record<string, C>` of SDK objects.
    pub(crate) fn handle_record<T>(
        &self,
        key: &str,
        expected: &str,
        handle: impl Fn(&JsValue) -> Option<T>,
    ) -> Result<Option<Record<T>>> {
        self.read(key, expected, |v| {
            let Some(all) = entries(v, key)? else {
                return Ok(None);
            };
            let mut out = Vec::with_capacity(all.len());
            for (k, x) in all {
                match handle(&x) {
                    Some(h) => out.push((k, h)),
                    None => return Ok(None),
                }
            }
            Ok(Some(out))
        })
    }

    /// An options object `T` with exactly the keys `T::KEYS` (a misspelt one is refused,
    /// not dropped), or `true` for `T`'s defaults (`false`: absent).
    pub(crate) fn nested<T: JsOptions>(&self, key: &str) -> Result<Option<T::Value>> {
        let Some(v) = self.get(key)? else {
            return Ok(None);
        };
        if let Some(b) = v.as_bool() {
            return Ok(b.then(T::Value::default));
        }
        if entries(&v, key)?.is_none() {
            return Err(self.bad(key, "a boolean or an object"));
        }
        refuse_unknown(&v, key, &recorded(Vec::new(), discard_read::<T>))?;
        T::read(&Fields::new(&v, key)?).map(Some)
    }

    /// An option of Modal's clients this package does not have: refused when present,
    /// naming it and why (never dropped).
    pub(crate) fn refused(&self, key: &str, why: &str) -> Result<()> {
        match self.get(key)? {
            None => Ok(()),
            Some(_) => Err(Error::invalid(format!(
                "{}.{key} is not supported by modal-wasm: {why}",
                self.what
            ))),
        }
    }

    /// One of `names` (a string), as its index; `expected` lists them for the error.
    pub(crate) fn one_of(
        &self,
        key: &str,
        names: &[&str],
        expected: &str,
    ) -> Result<Option<usize>> {
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

fn as_duration(v: &JsValue) -> Option<Duration> {
    crate::duration::from_ms(v.as_f64()?)
}

/// `v` as an array of `f(element)`; `Ok(None)` if it is not an array or `f` refuses one.
fn array_of<T>(
    v: &JsValue,
    what: &str,
    f: impl Fn(&JsValue) -> Option<T>,
) -> Result<Option<Vec<T>>> {
    let Some(items) = elements(v, what)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(items.len());
    for x in &items {
        match f(x) {
            Some(x) => out.push(x),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// `Object.entries(v)` of a non-array object (`None` for anything else).
pub(crate) fn entries(v: &JsValue, what: &str) -> Result<Option<Vec<(String, JsValue)>>> {
    if !v.is_object() || is_array(v).unwrap_or(true) {
        return Ok(None);
    }
    let all = object_entries(v).map_err(|e| unreadable(what, &e))?;
    // A fresh array of fresh [key, value] arrays: nothing of the caller's left to throw.
    let mut out = Vec::with_capacity(all.length() as usize);
    for e in all.iter() {
        let e: Array = e.unchecked_into();
        out.push((e.get(0).as_string().unwrap_or_default(), e.get(1)));
    }
    Ok(Some(out))
}

/// A string property of an SDK object (e.g. `appId` of an `App`).
pub(crate) fn prop_string(obj: &JsValue, key: &str) -> Option<String> {
    if !obj.is_object() {
        return None;
    }
    Reflect::get(obj, &JsValue::from_str(key)).ok()?.as_string()
}

/// The options `T`'s reader knows: the keys it reads (in the order read).
#[cfg(test)]
pub(crate) fn known_keys<T: JsOptions>() -> Vec<String> {
    recorded(Vec::new(), discard_read::<T>)
}

/// `T::read` for the keys it asks for (a `fn`, not a closure behind `dyn Fn`: no vtable
/// and call shims per options type).
fn discard_read<T: JsOptions>(f: &Fields) {
    let _ = T::read(f);
}

/// The keys `read` asks for, after `keys` (not generic: one copy in the wasm).
#[inline(never)]
fn recorded(keys: Vec<String>, read: fn(&Fields)) -> Vec<String> {
    let keys = std::cell::RefCell::new(keys);
    read(&Fields::recorder(&keys));
    keys.into_inner()
}

/// Refuses the first own key of `obj` not in `known` (a misspelt or renamed option is
/// refused with the nearest known name, never dropped).
#[inline(never)]
fn refuse_unknown(obj: &JsValue, what: &str, known: &[String]) -> Result<()> {
    let keys = object_keys(obj).map_err(|e| unreadable(what, &e))?;
    for k in keys.iter() {
        let k = k.as_string().unwrap_or_default();
        if !known.contains(&k) {
            return Err(crate::suggest::unknown_option(what, &k, known));
        }
    }
    Ok(())
}

/// The fields of the options object `v`, after refusing keys `read` does not read
/// (`signal` aside: every call's, read by `signal_of`); `None` for `undefined`/`null`.
#[inline(never)]
fn checked<'a>(v: &'a JsValue, what: &'a str, read: fn(&Fields)) -> Result<Option<Fields<'a>>> {
    let Some(f) = present(Some(v), what)? else {
        return Ok(None);
    };
    refuse_unknown(v, what, &recorded(vec!["signal".into()], read))?;
    Ok(Some(f))
}

/// The options in `v` (`undefined`/`null`: the defaults), read as [`JsOptions::Value`].
pub(crate) fn options<T: JsOptions>(v: Option<Ts<T>>, what: &str) -> Result<T::Value> {
    let js = v.map(|ts| ts.js_value());
    options_of::<T>(js.as_ref().unwrap_or(&JsValue::UNDEFINED), what)
}

/// [`options`] of a parameter declared as a plain `JsValue` with the options type as its
/// TypeScript type (`unchecked_param_type`), which keeps the JS glue of the call smaller.
pub(crate) fn options_of<T: JsOptions>(v: &JsValue, what: &str) -> Result<T::Value> {
    match checked(v, what, discard_read::<T>)? {
        None => Ok(T::Value::default()),
        Some(f) => T::read(&f),
    }
}

/// The fields of an options value, `None` for `undefined`/`null` (out of line: `options`
/// is instantiated per options type).
#[inline(never)]
fn present<'a>(js: Option<&'a JsValue>, what: &'a str) -> Result<Option<Fields<'a>>> {
    match js {
        Some(js) if !js.is_undefined() && !js.is_null() => Fields::new(js, what).map(Some),
        _ => Ok(None),
    }
}

/// The `signal` property of an options object, if it is an `AbortSignal`.
/// Options that are neither `undefined`, `null` nor an object are refused here, so that
/// a call whose options carry nothing else still rejects them.
pub fn signal_of(options: &JsValue) -> Result<Option<web_sys::AbortSignal>> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    if !options.is_object() {
        return Err(Error::invalid("options must be an object"));
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

/// A required boolean argument.
pub fn flag(v: &JsValue, what: &str) -> Result<bool> {
    v.as_bool()
        .ok_or_else(|| Error::invalid(format!("{what} must be a boolean")))
}

/// A required whole-number argument in 0..=2^32-1.
pub fn u32_arg(v: &JsValue, what: &str) -> Result<u32> {
    as_u32(v).ok_or_else(|| Error::invalid(format!("{what} must be a non-negative integer")))
}

/// A required `string[]` argument.
pub fn string_array(v: &JsValue, what: &str) -> Result<Vec<String>> {
    let Some(items) = elements(v, what)? else {
        return Err(Error::invalid(format!(
            "{what} must be an array of strings"
        )));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, x) in items.iter().enumerate() {
        out.push(
            x.as_string()
                .ok_or_else(|| Error::invalid(format!("{what}[{i}] must be a string")))?,
        );
    }
    Ok(out)
}

/// A required `Record<string, string>` argument.
pub fn string_record(v: &JsValue, what: &str) -> Result<Record<String>> {
    string_entries(v, what)?
        .ok_or_else(|| Error::invalid(format!("{what} must be an object of string values")))
}

/// The entries of a `Record<string, string>`, `None` unless it is one.
fn string_entries(v: &JsValue, what: &str) -> Result<Option<Record<String>>> {
    let Some(all) = entries(v, what)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(all.len());
    for (k, x) in all {
        match x.as_string() {
            Some(x) => out.push((k, x)),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// An optional millisecond-count argument (`undefined`/`null`: none).
pub(crate) fn optional_duration(v: &JsValue, what: &str) -> Result<Option<Duration>> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    as_duration(v).map(Some).ok_or_else(|| {
        Error::invalid(format!(
            "{what} must be a non-negative number of milliseconds"
        ))
    })
}

/// A JS object `{ [k]: v }` from string pairs.
pub fn record<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> js_sys::Object {
    let obj = js_sys::Object::new();
    for (k, v) in pairs {
        let _ = js_sys::Reflect::set(&obj, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    obj
}
