//! [`Sandbox::logs`]: a sandbox's entrypoint logs, as Modal JS's `SandboxLogsManager`
//! (modal@0.11.1 `src/logs.ts`: the same limits, buckets and lookbacks). `fetch` reads a
//! time range: counted in buckets (`AppCountLogs`), dense buckets counted again in smaller
//! ones, then fetched (`AppFetchLogs`) in ranges of at most 20,000 entries; `tail` reads the
//! newest entries, looking back 1 hour, 1 day, 7 days, 30 days until there are enough.
//!
//! The npm package has its own copy in JS (`src/js/sandbox.js`): prost's code for these
//! messages would cost the package's size budget more than the algorithm in JS does. The
//! two follow the same steps, and the planning below is tested natively.

use futures_util::stream::{self, LocalBoxStream, StreamExt, TryStreamExt};
use modal_proto::client as pb;
use modal_proto::rpcs::modal_client as cp;

use crate::error::{Error, ErrorKind, Result};
use crate::js;
use crate::sandbox::Sandbox;

/// Most entries one `AppFetchLogs` returns.
pub const FETCH_LIMIT: u32 = 20_000;
const MAX_RANGE_MS: f64 = 35.0 * 86_400_000.0;
const MAX_FETCHES: usize = 500;
const BUCKET_SECS: [u32; 24] = [
    2, 4, 6, 12, 20, 30, 60, 120, 180, 240, 300, 360, 600, 720, 900, 1200, 1800, 3600, 7200, 10800,
    14400, 28800, 43200, 86400,
];
const TAIL_LOOKBACKS_MS: [f64; 4] = [3_600_000.0, 86_400_000.0, 604_800_000.0, 2_592_000_000.0];
const TOO_MANY: &str =
    "Too many logs to fetch in time range. Consider narrowing the range or adding filters.";

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    /// The entrypoint's standard output.
    Stdout,
    /// The entrypoint's standard error.
    Stderr,
    /// Modal's (or sandboxd's) own messages about the sandbox.
    System,
}

impl LogSource {
    /// Modal's `FileDescriptor` number.
    fn descriptor(self) -> i32 {
        match self {
            LogSource::Stdout => 1,
            LogSource::Stderr => 2,
            LogSource::System => 3,
        }
    }

    fn from_descriptor(n: i32) -> LogSource {
        match n {
            1 => LogSource::Stdout,
            2 => LogSource::Stderr,
            _ => LogSource::System,
        }
    }
}

/// One log line of a sandbox, from [`SandboxLogs::fetch`] or [`SandboxLogs::tail`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// The text, with its newline.
    pub message: String,
    /// Where it came from.
    pub source: LogSource,
    /// When it was written: milliseconds since the Unix epoch.
    pub timestamp_ms: f64,
    /// The sandbox's id.
    pub object_id: String,
    /// The container (or task) that wrote it.
    pub context_ids: Vec<String>,
}

/// What [`SandboxLogs::fetch`] reads: `since_ms` up to `until_ms` (now when `None`),
/// milliseconds since the Unix epoch, at most 35 days.
#[derive(Debug, Clone, PartialEq)]
pub struct LogsFetchParams {
    /// The start of the range (inclusive).
    pub since_ms: f64,
    /// The end of the range; now when `None`.
    pub until_ms: Option<f64>,
    /// Only this source; every source when `None`.
    pub source: Option<LogSource>,
    /// Only lines containing this text.
    pub search_text: Option<String>,
}

impl LogsFetchParams {
    /// Everything from `since_ms` until now.
    pub fn since(since_ms: f64) -> Self {
        LogsFetchParams {
            since_ms,
            until_ms: None,
            source: None,
            search_text: None,
        }
    }
}

/// What [`SandboxLogs::tail`] reads: the newest `entries` (100 when `None`, at most
/// [`FETCH_LIMIT`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogsTailParams {
    /// How many of the newest entries; 100 when `None`.
    pub entries: Option<u32>,
    /// Only this source; every source when `None`.
    pub source: Option<LogSource>,
}

/// Log entries in chronological order; a failed call ends it with its error.
pub type LogStream = LocalBoxStream<'static, Result<LogEntry>>;

/// A sandbox's logs, from [`Sandbox::logs`].
#[derive(Clone)]
pub struct SandboxLogs {
    sandbox: Sandbox,
}

impl SandboxLogs {
    pub(crate) fn new(sandbox: Sandbox) -> Self {
        SandboxLogs { sandbox }
    }

    /// The entries of a time range, oldest first. `ResourceExhausted` when the range holds
    /// more than Modal's clients fetch (500 fetches of 20,000); `Invalid` for a range over 35
    /// days.
    pub fn fetch(&self, params: &LogsFetchParams) -> LogStream {
        let sandbox = self.sandbox.clone();
        let params = params.clone();
        stream::once(async move {
            let until_ms = params.until_ms.unwrap_or_else(js::now_ms);
            check_range(params.since_ms, until_ms)?;
            let query = Query::of(
                &sandbox,
                params.source,
                params.search_text.unwrap_or_default(),
            )
            .await?;
            let fetches = plan(&query, params.since_ms, until_ms).await?;
            Ok::<_, Error>(
                stream::iter(fetches)
                    .then(move |(since, until)| {
                        let query = query.clone();
                        async move { query.fetch(since, until, FETCH_LIMIT).await }
                    })
                    .map_ok(|entries| stream::iter(entries.into_iter().map(Ok)))
                    .try_flatten(),
            )
        })
        .try_flatten()
        .boxed_local()
    }

    /// The newest entries (100 by default), oldest first.
    pub fn tail(&self, params: &LogsTailParams) -> LogStream {
        let sandbox = self.sandbox.clone();
        let params = params.clone();
        stream::once(async move {
            let n = params.entries.unwrap_or(100);
            if n > FETCH_LIMIT {
                return Err(Error::invalid(format!(
                    "logs.tail: entries must be an integer from 0 to {FETCH_LIMIT}, got {n}"
                )));
            }
            if n == 0 {
                return Ok(Vec::new());
            }
            let query = Query::of(&sandbox, params.source, String::new()).await?;
            let anchor = js::now_ms();
            let mut entries = Vec::new();
            for lookback in TAIL_LOOKBACKS_MS {
                entries = query.fetch(anchor - lookback, anchor, n).await?;
                if entries.len() >= n as usize {
                    break;
                }
            }
            Ok::<_, Error>(entries)
        })
        .map_ok(|entries| stream::iter(entries.into_iter().map(Ok)))
        .try_flatten()
        .boxed_local()
    }
}

/// A range's limits, as Modal JS checks them (`Invalid`).
fn check_range(since_ms: f64, until_ms: f64) -> Result<()> {
    if !since_ms.is_finite() || !until_ms.is_finite() {
        return Err(Error::invalid(
            "logs.fetch: since and until must be finite times",
        ));
    }
    if until_ms - since_ms > MAX_RANGE_MS {
        return Err(Error::invalid(
            "logs.fetch: Time range cannot exceed 35 days.",
        ));
    }
    Ok(())
}

/// The ranges to fetch, each of at most [`FETCH_LIMIT`] entries, within `since..until`.
async fn plan(query: &Query, since_ms: f64, until_ms: f64) -> Result<Vec<(f64, f64)>> {
    if until_ms <= since_ms {
        return Ok(Vec::new());
    }
    let mut ranges = query
        .count(since_ms, until_ms, bucket_secs_for(until_ms - since_ms))
        .await?;
    trim_empty_ends(&mut ranges);
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    // dense ranges counted again in smaller buckets, three rounds at most
    for _ in 0..3 {
        let dense: Vec<(usize, u32)> = ranges
            .iter()
            .enumerate()
            .filter(|(_, r)| r.count > u64::from(FETCH_LIMIT))
            .filter_map(|(i, r)| smaller_bucket(r).map(|secs| (i, secs)))
            .collect();
        if dense.is_empty() {
            break;
        }
        let estimate = dense.iter().fold(ranges.len(), |n, &(i, secs)| {
            let r = &ranges[i];
            n + ((r.end_ms - r.start_ms) / 1000.0 / f64::from(secs)).ceil() as usize - 1
        });
        if estimate > MAX_FETCHES {
            break;
        }
        // replaced from the last, so the earlier indices stay valid
        for &(i, secs) in dense.iter().rev() {
            let outer = ranges[i];
            let mut sub = query.count(outer.start_ms, outer.end_ms, secs).await?;
            if let Some(first) = sub.first_mut() {
                first.start_ms = first.start_ms.max(outer.start_ms);
            }
            if let Some(last) = sub.last_mut() {
                last.end_ms = last.end_ms.min(outer.end_ms);
            }
            ranges.splice(i..=i, sub);
        }
    }
    if ranges.iter().any(|r| r.count > u64::from(FETCH_LIMIT)) {
        return Err(Error::new(ErrorKind::ResourceExhausted, TOO_MANY));
    }
    let fetches: Vec<(f64, f64)> = intervals(&ranges)
        .into_iter()
        .map(|(start, end)| (start.max(since_ms), end.min(until_ms)))
        .filter(|(start, end)| start < end)
        .collect();
    if fetches.len() > MAX_FETCHES {
        return Err(Error::new(ErrorKind::ResourceExhausted, TOO_MANY));
    }
    Ok(fetches)
}

/// One bucket of `AppCountLogs`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Range {
    start_ms: f64,
    end_ms: f64,
    count: u64,
}

/// The smallest bucket that splits a span into at most 100 of them (a day at most).
fn bucket_secs_for(span_ms: f64) -> u32 {
    BUCKET_SECS
        .into_iter()
        .find(|&s| span_ms / 1000.0 / f64::from(s) <= 100.0)
        .unwrap_or(86400)
}

/// The next bucket size below a range's own; `None` at the smallest.
fn smaller_bucket(r: &Range) -> Option<u32> {
    let secs = (r.end_ms - r.start_ms) / 1000.0;
    BUCKET_SECS.into_iter().rev().find(|&s| f64::from(s) < secs)
}

fn trim_empty_ends(ranges: &mut Vec<Range>) {
    let first = ranges
        .iter()
        .position(|r| r.count > 0)
        .unwrap_or(ranges.len());
    ranges.drain(..first);
    while ranges.last().is_some_and(|r| r.count == 0) {
        ranges.pop();
    }
}

/// Ranges grouped into fetches: an empty range ends a group, and a group closes at about
/// 2,000 entries or before it would pass [`FETCH_LIMIT`].
fn intervals(ranges: &[Range]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut open: Option<(f64, f64, u64)> = None; // start, end, entries
    for r in ranges {
        if r.count == 0 {
            out.extend(open.take().map(|(s, e, _)| (s, e)));
            continue;
        }
        if open.is_some_and(|(_, _, n)| n + r.count > u64::from(FETCH_LIMIT)) {
            out.extend(open.take().map(|(s, e, _)| (s, e)));
        }
        let (start, _, n) = open.unwrap_or((r.start_ms, r.end_ms, 0));
        let group = (start, r.end_ms, n + r.count);
        if group.2 >= 2000 {
            out.push((group.0, group.1));
            open = None;
        } else {
            open = Some(group);
        }
    }
    out.extend(open.map(|(s, e, _)| (s, e)));
    out
}

/// The filters every request of one `fetch` or `tail` carries.
#[derive(Clone)]
struct Query {
    sandbox: Sandbox,
    app_id: String,
    task_id: String,
    source: i32,
    search_text: String,
}

impl Query {
    /// The sandbox's app id (`SandboxWait`'s metadata, as Modal JS reads it) and task id.
    async fn of(
        sandbox: &Sandbox,
        source: Option<LogSource>,
        search_text: String,
    ) -> Result<Query> {
        let conn = &sandbox.router().conn;
        let wait = pb::SandboxWaitRequest {
            sandbox_id: sandbox.id().to_string(),
            timeout: 0.0,
        };
        let app_id = conn
            .cp(cp::SANDBOX_WAIT_V2, &wait)
            .await?
            .metadata
            .map(|m| m.app_id)
            .unwrap_or_default();
        let task_id = sandbox.router().task_id().await?;
        Ok(Query {
            sandbox: sandbox.clone(),
            app_id,
            task_id,
            source: source.map_or(0, LogSource::descriptor),
            search_text,
        })
    }

    async fn count(&self, since_ms: f64, until_ms: f64, bucket_secs: u32) -> Result<Vec<Range>> {
        let req = pb::AppCountLogsRequest {
            app_id: self.app_id.clone(),
            task_id: self.task_id.clone(),
            sandbox_id: self.sandbox.id().to_string(),
            search_text: self.search_text.clone(),
            since: Some(timestamp(since_ms)),
            until: Some(timestamp(until_ms)),
            bucket_secs,
            source: self.source,
            ..Default::default()
        };
        let resp = self
            .sandbox
            .router()
            .conn
            .cp(cp::APP_COUNT_LOGS, &req)
            .await?;
        Ok(resp
            .buckets
            .into_iter()
            .map(|b| {
                let start_ms = b.bucket_start_at.map_or(0.0, |t| millis(&t));
                Range {
                    start_ms,
                    end_ms: start_ms + f64::from(bucket_secs) * 1000.0,
                    count: b.stdout_logs + b.stderr_logs + b.system_logs,
                }
            })
            .collect())
    }

    async fn fetch(&self, since_ms: f64, until_ms: f64, limit: u32) -> Result<Vec<LogEntry>> {
        let req = pb::AppFetchLogsRequest {
            app_id: self.app_id.clone(),
            since: Some(timestamp(since_ms)),
            until: Some(timestamp(until_ms)),
            limit,
            source: self.source,
            task_id: self.task_id.clone(),
            sandbox_id: self.sandbox.id().to_string(),
            search_text: self.search_text.clone(),
            ..Default::default()
        };
        let resp = self
            .sandbox
            .router()
            .conn
            .cp(cp::APP_FETCH_LOGS, &req)
            .await?;
        let object_id = self.sandbox.id().to_string();
        Ok(resp
            .batches
            .into_iter()
            .flat_map(|batch| {
                let task_id = batch.task_id;
                let object_id = object_id.clone();
                batch
                    .items
                    .into_iter()
                    .map(move |item| entry(item, &task_id, &object_id))
            })
            .collect())
    }
}

/// A `TaskLogs` item as Modal JS reads it: the nanosecond stamp floored to milliseconds
/// when there is one, else the seconds; the container, else the batch's task.
fn entry(item: pb::TaskLogs, task_id: &str, object_id: &str) -> LogEntry {
    let timestamp_ms = if item.timestamp_ns != 0 {
        (item.timestamp_ns / 1_000_000) as f64
    } else {
        item.timestamp * 1000.0
    };
    let context = if item.container_id.is_empty() {
        task_id.to_string()
    } else {
        item.container_id
    };
    LogEntry {
        message: item.data,
        source: LogSource::from_descriptor(item.file_descriptor),
        timestamp_ms,
        object_id: object_id.to_string(),
        context_ids: if context.is_empty() {
            Vec::new()
        } else {
            vec![context]
        },
    }
}

fn timestamp(ms: f64) -> prost_types::Timestamp {
    let seconds = (ms / 1000.0).floor();
    prost_types::Timestamp {
        seconds: seconds as i64,
        nanos: ((ms - seconds * 1000.0) * 1e6).round() as i32,
    }
}

fn millis(t: &prost_types::Timestamp) -> f64 {
    t.seconds as f64 * 1000.0 + f64::from(t.nanos) / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start_s: f64, end_s: f64, count: u64) -> Range {
        Range {
            start_ms: start_s * 1000.0,
            end_ms: end_s * 1000.0,
            count,
        }
    }

    #[test]
    fn a_span_gets_the_smallest_bucket_that_makes_at_most_100() {
        assert_eq!(bucket_secs_for(590_000.0), 6); // Modal JS: 590 s -> 6 s buckets
        assert_eq!(bucket_secs_for(200_000.0), 2);
        assert_eq!(bucket_secs_for(201_000.0), 4);
        assert_eq!(bucket_secs_for(35.0 * 86_400_000.0), 43200);
        assert_eq!(bucket_secs_for(200.0 * 86_400_000.0), 86400); // a day at most
        assert_eq!(smaller_bucket(&r(0.0, 60.0, 1)), Some(30));
        assert_eq!(smaller_bucket(&r(0.0, 2.0, 1)), None);
    }

    #[test]
    fn empty_ends_are_trimmed_and_empty_ranges_split_fetches() {
        let mut ranges = vec![
            r(0.0, 6.0, 0),
            r(6.0, 12.0, 3),
            r(12.0, 18.0, 0),
            r(18.0, 24.0, 5),
            r(24.0, 30.0, 0),
        ];
        trim_empty_ends(&mut ranges);
        assert_eq!(ranges.len(), 3);
        assert_eq!(
            intervals(&ranges),
            vec![(6000.0, 12000.0), (18000.0, 24000.0)]
        );
        let mut none = vec![r(0.0, 6.0, 0)];
        trim_empty_ends(&mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn fetches_close_at_2000_entries_and_before_the_limit() {
        // adjacent ranges join until a group reaches 2000 entries
        let ranges = [
            r(0.0, 1.0, 1500),
            r(1.0, 2.0, 600),
            r(2.0, 3.0, 10),
            r(3.0, 4.0, 19_995),
        ];
        // 1500 + 600 = 2100 >= 2000 closes; 10 + 19,995 would pass 20,000: 10 alone
        assert_eq!(
            intervals(&ranges),
            vec![(0.0, 2000.0), (2000.0, 3000.0), (3000.0, 4000.0)]
        );
    }

    #[test]
    fn timestamps_round_trip_in_milliseconds() {
        let t = timestamp(1_700_000_000_123.0);
        assert_eq!((t.seconds, t.nanos), (1_700_000_000, 123_000_000));
        assert_eq!(millis(&t), 1_700_000_000_123.0);
        let e = entry(
            pb::TaskLogs {
                data: "hi\n".into(),
                timestamp: 5.5,
                file_descriptor: 2,
                ..Default::default()
            },
            "ta-1",
            "sb-1",
        );
        assert_eq!(
            (e.timestamp_ms, e.source, e.context_ids),
            (5500.0, LogSource::Stderr, vec!["ta-1".to_string()])
        );
    }

    #[test]
    fn ranges_over_35_days_or_not_finite_are_refused() {
        assert!(check_range(0.0, MAX_RANGE_MS).is_ok());
        let e = check_range(0.0, MAX_RANGE_MS + 1.0).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (
                ErrorKind::Invalid,
                "logs.fetch: Time range cannot exceed 35 days."
            )
        );
        assert_eq!(
            check_range(f64::NAN, 1.0).unwrap_err().kind,
            ErrorKind::Invalid
        );
    }
}
