//! `AppFetchLogs` and `AppCountLogs` for sandboxes (Modal JS's `sandbox.logs.fetch` counts
//! then fetches; `tail` fetches): answered from the entrypoint's log entries that
//! `crate::logs` keeps. sandboxd runs no Functions: their filters are refused by name.

use crate::cp::ControlPlane;
use crate::logs::{Entry, Filter};
use modal_proto::client::app_count_logs_response::LogBucket;
use modal_proto::client::*;
use prost_types::Timestamp;
use tonic::Status;

/// The filters of both requests that this module reads.
pub(crate) struct Query<'a> {
    app_id: &'a str,
    pub sandbox_id: &'a str,
    task_id: &'a str,
    pub functions: [(&'static str, &'a str); 3],
    since: Option<&'a Timestamp>,
    until: Option<&'a Timestamp>,
    source: i32,
    search: &'a str,
}

/// The filters `AppFetchLogsRequest` and `AppCountLogsRequest` share (same names, same
/// meaning), read in one place for sandboxd and for the gateway that scopes them.
pub(crate) trait LogsRequest {
    fn query(&self) -> Query<'_>;
    fn task_id_mut(&mut self) -> &mut String;
}

macro_rules! logs_request {
    ($($t:ty),*) => {$(
        impl LogsRequest for $t {
            fn query(&self) -> Query<'_> {
                Query {
                    app_id: &self.app_id,
                    sandbox_id: &self.sandbox_id,
                    task_id: &self.task_id,
                    functions: [
                        ("function_id", &self.function_id),
                        ("function_call_id", &self.function_call_id),
                        ("parametrized_function_id", &self.parametrized_function_id),
                    ],
                    since: self.since.as_ref(),
                    until: self.until.as_ref(),
                    source: self.source,
                    search: &self.search_text,
                }
            }
            fn task_id_mut(&mut self) -> &mut String {
                &mut self.task_id
            }
        }
    )*};
}
logs_request!(AppFetchLogsRequest, AppCountLogsRequest);

fn ns(t: Option<&Timestamp>, default: u64) -> u64 {
    match t {
        None => default,
        Some(t) if t.seconds < 0 => 0,
        Some(t) => (t.seconds as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(t.nanos.max(0) as u64),
    }
}

impl ControlPlane {
    /// The entries `q` selects with `pick`, and the sandbox's task id.
    fn with_entries<T>(
        &self,
        q: &Query,
        pick: impl FnOnce(&crate::logs::LogJournal, &Filter) -> T,
    ) -> Result<Option<(String, T)>, Status> {
        for (name, v) in q.functions {
            if !v.is_empty() {
                return Err(Status::invalid_argument(format!(
                    "{name} is not supported: sandboxd runs sandboxes, not Functions"
                )));
            }
        }
        let fd = FileDescriptor::try_from(q.source)
            .map_err(|_| Status::invalid_argument(format!("unknown source {}", q.source)))?;
        let rec = match (q.sandbox_id, q.task_id) {
            ("", "") => {
                return Err(Status::invalid_argument(
                    "sandbox_id or task_id is required: sandboxd keeps the logs of sandboxes",
                ))
            }
            ("", task) => self.state.record_by_task(task)?,
            (id, _) => self.state.sandbox_record(id)?,
        };
        let filtered_out = (!q.task_id.is_empty() && q.task_id != rec.task_id)
            || (!q.app_id.is_empty() && q.app_id != rec.app_id);
        let Some(sb) = self.state.handle(&rec.id).filter(|_| !filtered_out) else {
            // another sandbox's task or app, or ended too long ago: no entries
            return Ok(None);
        };
        let filter = Filter {
            since_ns: ns(q.since, 0),
            until_ns: ns(q.until, u64::MAX),
            fd: fd as i32,
            search: q.search,
        };
        Ok(Some((rec.task_id, pick(&sb.logs, &filter))))
    }

    pub(crate) fn fetch_logs(
        &self,
        r: &AppFetchLogsRequest,
    ) -> Result<AppFetchLogsResponse, Status> {
        let q = r.query();
        let limit = r.limit as usize;
        let Some((task_id, entries)) = self.with_entries(&q, |j, f| j.fetch(f, limit))? else {
            return Ok(AppFetchLogsResponse::default());
        };
        if entries.is_empty() {
            return Ok(AppFetchLogsResponse::default());
        }
        let items = entries
            .into_iter()
            .map(|Entry { ts_ns, fd, data }| TaskLogs {
                data,
                file_descriptor: fd,
                timestamp: ts_ns as f64 / 1e9,
                timestamp_ns: ts_ns,
                ..Default::default()
            })
            .collect();
        let sandbox_id = self
            .state
            .record_by_task(&task_id)
            .map(|r| r.id)
            .unwrap_or_default();
        Ok(AppFetchLogsResponse {
            batches: vec![TaskLogsBatch {
                task_id,
                sandbox_id,
                items,
                ..Default::default()
            }],
        })
    }

    pub(crate) fn count_logs(
        &self,
        r: &AppCountLogsRequest,
    ) -> Result<AppCountLogsResponse, Status> {
        if r.bucket_secs == 0 {
            return Err(Status::invalid_argument("bucket_secs must be positive"));
        }
        let q = r.query();
        let buckets = self
            .with_entries(&q, |j, f| j.count(f, r.bucket_secs))?
            .map(|(_, b)| b)
            .unwrap_or_default();
        Ok(AppCountLogsResponse {
            app_id: r.app_id.clone(),
            buckets: buckets
                .into_iter()
                .map(|b| LogBucket {
                    bucket_start_at: Some(Timestamp {
                        seconds: b.start_secs as i64,
                        nanos: 0,
                    }),
                    stdout_logs: b.stdout,
                    stderr_logs: b.stderr,
                    system_logs: 0,
                })
                .collect(),
        })
    }
}
