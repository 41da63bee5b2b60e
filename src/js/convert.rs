//! Conversions of JS input, each failing with an `InvalidError` instead of panicking.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use tsify::{Ts, Tsify};
use wasm_bindgen::{JsCast, JsValue};

use crate::error::{Error, Result};

/// Options from an optional `Ts<T>`; `undefined`/`null` give the defaults.
pub fn options<T: Tsify + DeserializeOwned + Default>(v: Option<Ts<T>>, what: &str) -> Result<T> {
    match v {
        None => Ok(T::default()),
        Some(ts) => {
            let js = ts.js_value();
            if js.is_undefined() || js.is_null() {
                return Ok(T::default());
            }
            if !js.is_object() {
                return Err(Error::invalid(format!("{what} must be an object")));
            }
            serde_wasm_bindgen::from_value(js)
                .map_err(|e| Error::invalid(format!("invalid {what}: {e}")))
        }
    }
}

/// The `signal` property of an options object, if it is an `AbortSignal`.
pub fn signal_of(options: &JsValue) -> Result<Option<web_sys::AbortSignal>> {
    if !options.is_object() {
        return Ok(None);
    }
    let s = js_sys::Reflect::get(options, &JsValue::from_str("signal")).unwrap_or_default();
    if s.is_undefined() || s.is_null() {
        return Ok(None);
    }
    // `instanceof` fails across realms (e.g. a Node AbortSignal polyfill); duck-type instead.
    let has_aborted = js_sys::Reflect::has(&s, &JsValue::from_str("aborted")).unwrap_or(false);
    if !has_aborted {
        return Err(Error::invalid("signal must be an AbortSignal"));
    }
    Ok(Some(s.unchecked_into()))
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
    if !js_sys::Array::is_array(v) {
        return Err(Error::invalid(format!(
            "{what} must be an array of strings"
        )));
    }
    let arr: &js_sys::Array = v.unchecked_ref();
    arr.iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_string()
                .ok_or_else(|| Error::invalid(format!("{what}[{i}] must be a string")))
        })
        .collect()
}

/// A required `Record<string, string>` argument.
pub fn string_record(v: &JsValue, what: &str) -> Result<BTreeMap<String, String>> {
    if !v.is_object() || js_sys::Array::is_array(v) {
        return Err(Error::invalid(format!(
            "{what} must be an object of string values"
        )));
    }
    serde_wasm_bindgen::from_value(v.clone())
        .map_err(|e| Error::invalid(format!("invalid {what}: {e}")))
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
