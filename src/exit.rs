//! Exit codes: of a sandbox (from its `GenericResult`) and of an exec (code or signal).

use modal_proto::client::generic_result::GenericStatus;

use crate::wire::GenericResult;

/// The sandbox's return code once it has finished, or `None` while it runs:
/// 124 on TIMEOUT, 137 on TERMINATED, else the exit code (docs/PROTOCOL.md).
pub fn sandbox_returncode(result: Option<&GenericResult>) -> Option<i32> {
    let r = result?;
    match GenericStatus::try_from(r.status).unwrap_or(GenericStatus::Unspecified) {
        GenericStatus::Unspecified => None,
        GenericStatus::Timeout => Some(124),
        GenericStatus::Terminated => Some(137),
        _ => Some(r.exitcode),
    }
}

/// An exec's exit code from its exit status: the code, or 128 + signal.
pub fn exec_exit_code(code: Option<i32>, signal: Option<i32>) -> Option<i32> {
    match (code, signal) {
        (Some(c), _) => Some(c),
        (None, Some(s)) => Some(128 + s),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: GenericStatus, exitcode: i32) -> GenericResult {
        GenericResult {
            status: status as i32,
            exitcode,
            ..Default::default()
        }
    }

    #[test]
    fn sandbox_codes() {
        assert_eq!(sandbox_returncode(None), None);
        assert_eq!(
            sandbox_returncode(Some(&result(GenericStatus::Unspecified, 0))),
            None
        );
        assert_eq!(
            sandbox_returncode(Some(&result(GenericStatus::Terminated, 0))),
            Some(137)
        );
        assert_eq!(
            sandbox_returncode(Some(&result(GenericStatus::Timeout, 0))),
            Some(124)
        );
        assert_eq!(
            sandbox_returncode(Some(&result(GenericStatus::Success, 0))),
            Some(0)
        );
        assert_eq!(
            sandbox_returncode(Some(&result(GenericStatus::Failure, 3))),
            Some(3)
        );
    }

    #[test]
    fn exec_codes() {
        assert_eq!(exec_exit_code(Some(2), None), Some(2));
        assert_eq!(exec_exit_code(None, Some(9)), Some(137));
        assert_eq!(exec_exit_code(None, None), None);
    }
}
