//! Durations: the one place that reads a JS millisecond count and that turns a
//! [`Duration`] into the whole seconds or milliseconds a request field holds.

use std::time::Duration;

use crate::error::{Error, Result};

/// A JS millisecond count (`timeoutMs`, `ttlMs`, ...) as a duration: a finite number
/// `>= 0`, else `None`.
pub(crate) fn from_ms(ms: f64) -> Option<Duration> {
    // Whole nanoseconds by a saturating cast: `Duration::from_secs_f64` would bring its
    // panic path (and formatting) into the wasm. Up to about 584 years.
    (ms.is_finite() && ms >= 0.0).then(|| Duration::from_nanos((ms * 1e6) as u64))
}

/// `d` as the whole seconds of a `*_secs` field: positive, a whole number of seconds (the
/// JS API counts milliseconds, so `what` names it as `timeoutMs` and friends).
pub(crate) fn whole_seconds(d: Duration, what: &str) -> Result<u32> {
    if d.is_zero() {
        return Err(Error::invalid(format!("{what} must be positive")));
    }
    if d.subsec_nanos() != 0 {
        return Err(Error::invalid(format!(
            "{what} must be a multiple of 1000ms"
        )));
    }
    u32::try_from(d.as_secs()).map_err(|_| Error::invalid(format!("{what} is too large")))
}

/// `d` as the whole milliseconds of a `*_ms` field.
pub(crate) fn millis(d: Duration, what: &str) -> Result<u32> {
    u32::try_from(ms(d)).map_err(|_| Error::invalid(format!("{what} is too large")))
}

/// `d` in whole milliseconds, saturating (`Duration::as_millis` is a u128, whose
/// arithmetic the wasm would carry).
pub(crate) fn ms(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(d.subsec_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_milliseconds() {
        assert_eq!(from_ms(1500.0), Some(Duration::from_millis(1500)));
        assert_eq!(from_ms(0.0), Some(Duration::ZERO));
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(from_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn whole_seconds_only() {
        let s = |ms| whole_seconds(Duration::from_millis(ms), "timeoutMs");
        assert_eq!(s(60_000).unwrap(), 60);
        assert_eq!(s(1000).unwrap(), 1);
        for bad in [0, 1500, 999] {
            let e = s(bad).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::Invalid);
            assert!(e.message.starts_with("timeoutMs"), "{}", e.message);
        }
        assert!(whole_seconds(Duration::from_secs(1 << 40), "x").is_err());
        assert_eq!(millis(Duration::from_millis(250), "x").unwrap(), 250);
        assert!(millis(Duration::from_secs(1 << 40), "x").is_err());
    }
}
