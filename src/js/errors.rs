//! Turns SDK errors into the JS error classes of `glue.js`.

use wasm_bindgen::JsValue;

use crate::error::Error;

impl Error {
    /// The JS `Error` subclass for this error, `code`, `grpcStatus` and `cause` set.
    pub fn into_js(self) -> JsValue {
        let cause = match &self.cause {
            Some(c) => js_sys::Error::new(c).into(),
            None => JsValue::UNDEFINED,
        };
        super::make_error(self.kind.code(), &self.message, self.grpc_status, &cause)
    }
}

impl From<Error> for JsValue {
    fn from(e: Error) -> JsValue {
        e.into_js()
    }
}
