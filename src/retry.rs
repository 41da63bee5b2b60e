//! Retry policy: which gRPC codes are transient, and the backoff between attempts.

use crate::grpc::Code;

/// True for codes that clients retry with backoff (docs/PROTOCOL.md): DEADLINE_EXCEEDED,
/// UNAVAILABLE, CANCELLED, INTERNAL, UNKNOWN.
pub fn is_retryable(code: Code) -> bool {
    matches!(
        code,
        Code::DeadlineExceeded
            | Code::Unavailable
            | Code::Cancelled
            | Code::Internal
            | Code::Unknown
    )
}

/// Exponential backoff: `base_ms * factor^attempt`, capped at `max_ms`, for at most
/// `max_retries` retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub base_ms: u32,
    /// Multiplier per retry.
    pub factor: u32,
    /// Largest delay.
    pub max_ms: u32,
    /// Retries after the first attempt.
    pub max_retries: u32,
}

impl Backoff {
    /// The policy for unary calls (as Modal's JS client: 10 ms doubling, 10 retries; capped).
    pub const UNARY: Backoff = Backoff {
        base_ms: 10,
        factor: 2,
        max_ms: 2_000,
        max_retries: 8,
    };

    /// The policy for resuming output streams after a dropped connection. Its delays add
    /// up to 3.55 s: a stream whose server is gone (killed, unreachable) ends with a typed
    /// error within 5 s instead of hanging on; progress resets the budget (`Attempts::reset`).
    pub const STREAM: Backoff = Backoff {
        base_ms: 50,
        factor: 2,
        max_ms: 1_000,
        max_retries: 7,
    };

    /// The delay before retry number `retry` (0-based), or `None` when retries are used up.
    pub fn delay(&self, retry: u32) -> Option<u32> {
        if retry >= self.max_retries {
            return None;
        }
        let mut d = self.base_ms as u64;
        for _ in 0..retry {
            d = (d * self.factor as u64).min(self.max_ms as u64);
        }
        Some(d.min(self.max_ms as u64) as u32)
    }
}

/// What a caller should do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this many milliseconds, then try again.
    Retry(u32),
    /// Fetch fresh credentials once, then try again at once.
    RefreshAuth,
    /// Give up and report the error.
    Fail,
}

/// Tracks the attempts of one logical call (or one stream across its reconnects).
#[derive(Debug, Clone)]
pub struct Attempts {
    policy: Backoff,
    retries: u32,
    auth_refreshed: bool,
    refresh_on_unauthenticated: bool,
}

impl Attempts {
    /// Attempts under `policy`; `refresh_on_unauthenticated` allows one credential refresh.
    pub fn new(policy: Backoff, refresh_on_unauthenticated: bool) -> Self {
        Attempts {
            policy,
            retries: 0,
            auth_refreshed: false,
            refresh_on_unauthenticated,
        }
    }

    /// Retries used so far (the value of `x-retry-attempt`).
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Progress was made (a stream delivered data): the retry budget starts over.
    pub fn reset(&mut self) {
        self.retries = 0;
        self.auth_refreshed = false;
    }

    /// Decide after a failure with `code`.
    pub fn on_error(&mut self, code: Code) -> Decision {
        if code == Code::Unauthenticated {
            if self.refresh_on_unauthenticated && !self.auth_refreshed {
                self.auth_refreshed = true;
                return Decision::RefreshAuth;
            }
            return Decision::Fail;
        }
        if !is_retryable(code) {
            return Decision::Fail;
        }
        match self.policy.delay(self.retries) {
            Some(ms) => {
                self.retries += 1;
                Decision::Retry(ms)
            }
            None => Decision::Fail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps_and_ends() {
        let b = Backoff {
            base_ms: 100,
            factor: 2,
            max_ms: 500,
            max_retries: 5,
        };
        let delays: Vec<_> = (0..6).map(|i| b.delay(i)).collect();
        assert_eq!(
            delays,
            vec![Some(100), Some(200), Some(400), Some(500), Some(500), None]
        );
    }

    #[test]
    fn a_dead_server_surfaces_within_five_seconds() {
        for policy in [Backoff::UNARY, Backoff::STREAM] {
            let total: u32 = (0..).map_while(|i| policy.delay(i)).sum();
            assert!(
                total <= 4_000,
                "{policy:?} sleeps {total} ms before giving up"
            );
        }
    }

    #[test]
    fn attempts_are_bounded() {
        let mut a = Attempts::new(Backoff::STREAM, false);
        let mut n = 0;
        while let Decision::Retry(_) = a.on_error(Code::Unavailable) {
            n += 1;
        }
        assert_eq!(n, Backoff::STREAM.max_retries);
        a.reset();
        assert!(matches!(a.on_error(Code::Unavailable), Decision::Retry(50)));
    }

    #[test]
    fn non_retryable_fail_at_once() {
        let mut a = Attempts::new(Backoff::UNARY, true);
        assert_eq!(a.on_error(Code::NotFound), Decision::Fail);
        assert_eq!(a.on_error(Code::InvalidArgument), Decision::Fail);
    }

    #[test]
    fn unauthenticated_refreshes_once() {
        let mut a = Attempts::new(Backoff::UNARY, true);
        assert_eq!(a.on_error(Code::Unauthenticated), Decision::RefreshAuth);
        assert_eq!(a.on_error(Code::Unauthenticated), Decision::Fail);
        let mut b = Attempts::new(Backoff::UNARY, false);
        assert_eq!(b.on_error(Code::Unauthenticated), Decision::Fail);
    }
}
