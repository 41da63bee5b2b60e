//! A sandbox's entrypoint logs, as Modal keeps them for `AppFetchLogs` and `AppCountLogs`
//! (Modal JS's `sandbox.logs`): the entrypoint's stdout and stderr, each line an entry
//! stamped with the time sandboxd read its end (a line split across reads is one entry).
//!
//! Separate from the offset-addressed `OutputBuffer` that streams the same bytes live
//! (`SandboxGetLogs`, `sandbox.stdout`): that one forgets what its readers were sent, this
//! one keeps the last `CAP_BYTES` of entries whether or not anyone reads them.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Bytes of entries kept per sandbox; older entries are dropped first.
pub const CAP_BYTES: usize = 8 << 20;
/// Most entries one fetch returns (Modal JS's `FETCH_LIMIT`, which it never exceeds).
pub const FETCH_LIMIT: usize = 20_000;

/// Modal's `FileDescriptor` values (stdout 1, stderr 2).
pub const STDOUT: i32 = 1;
pub const STDERR: i32 = 2;

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub ts_ns: u64,
    pub fd: i32,
    pub data: String,
}

/// Which entries a query selects: `since_ns <= ts < until_ns`, of `fd` (0: any), whose
/// text contains `search` ("" : any).
pub struct Filter<'a> {
    pub since_ns: u64,
    pub until_ns: u64,
    pub fd: i32,
    pub search: &'a str,
}

impl Filter<'_> {
    fn matches(&self, e: &Entry) -> bool {
        (self.since_ns..self.until_ns).contains(&e.ts_ns)
            && (self.fd == 0 || self.fd == e.fd)
            && (self.search.is_empty() || e.data.contains(self.search))
    }
}

/// Counts of one bucket of `AppCountLogs`.
#[derive(Debug, Default, PartialEq)]
pub struct Bucket {
    pub start_secs: u64,
    pub stdout: u64,
    pub stderr: u64,
}

/// An unfinished line that reaches this length is an entry as it is (reads are at most
/// 64 KiB, so no entry is much longer).
pub const MAX_LINE: usize = 64 << 10;

#[derive(Default)]
struct Inner {
    entries: VecDeque<Entry>,
    bytes: usize,
    /// The unfinished last line of stdout and of stderr: completed by a later read (or the
    /// end of the stream), and shown meanwhile as the newest entry.
    partial: [Option<Entry>; 2],
    /// The newest time given; times only go forward, so entries stay in time order.
    last_ts: u64,
}

impl Inner {
    fn push(&mut self, e: Entry) {
        self.bytes += e.data.len();
        self.entries.push_back(e);
        while self.bytes > CAP_BYTES {
            match self.entries.pop_front() {
                Some(e) => self.bytes -= e.data.len(),
                None => break,
            }
        }
    }

    /// The entries, then the unfinished lines stamped with the newest time.
    fn all(&self) -> impl DoubleEndedIterator<Item = Entry> + '_ {
        let partial = self.partial.iter().flatten().map(|p| Entry {
            ts_ns: self.last_ts,
            ..p.clone()
        });
        self.entries.iter().cloned().chain(partial)
    }
}

fn slot(fd: i32) -> usize {
    usize::from(fd == STDERR)
}

#[derive(Default)]
pub struct LogJournal {
    inner: Mutex<Inner>,
}

impl LogJournal {
    /// Appends `text` read from `fd` at `ts_ns`: one entry per line, each with its `\n`,
    /// stamped with the time it was completed; an unfinished last line waits for the rest.
    pub fn append(&self, fd: i32, ts_ns: u64, text: &str) {
        if text.is_empty() {
            return;
        }
        let mut inner = crate::sync::lock(&self.inner);
        let ts_ns = ts_ns.max(inner.last_ts);
        inner.last_ts = ts_ns;
        let mut line = inner.partial[slot(fd)]
            .take()
            .map(|p| p.data)
            .unwrap_or_default();
        for piece in text.split_inclusive('\n') {
            line.push_str(piece);
            if line.ends_with('\n') || line.len() >= MAX_LINE {
                let data = std::mem::take(&mut line);
                inner.push(Entry { ts_ns, fd, data });
            }
        }
        if !line.is_empty() {
            inner.partial[slot(fd)] = Some(Entry {
                ts_ns,
                fd,
                data: line,
            });
        }
    }

    /// The end of `fd`'s stream: its unfinished line is an entry as it is.
    pub fn close(&self, fd: i32) {
        let mut inner = crate::sync::lock(&self.inner);
        if let Some(mut p) = inner.partial[slot(fd)].take() {
            p.ts_ns = inner.last_ts;
            inner.push(p);
        }
    }

    /// The last `limit` entries (at most `FETCH_LIMIT`; 0 for that many) the filter
    /// selects, oldest first: a tail asks for the newest of a range.
    pub fn fetch(&self, f: &Filter, limit: usize) -> Vec<Entry> {
        let limit = if limit == 0 {
            FETCH_LIMIT
        } else {
            limit.min(FETCH_LIMIT)
        };
        let inner = crate::sync::lock(&self.inner);
        let mut out: Vec<Entry> = inner
            .all()
            .rev()
            .filter(|e| f.matches(e))
            .take(limit)
            .collect();
        out.reverse();
        out
    }

    /// Entry counts by source in buckets of `bucket_secs` aligned to the epoch, oldest
    /// first; buckets without entries are left out.
    pub fn count(&self, f: &Filter, bucket_secs: u32) -> Vec<Bucket> {
        let width = u64::from(bucket_secs.max(1));
        let inner = crate::sync::lock(&self.inner);
        let mut out: Vec<Bucket> = Vec::new();
        for e in inner.all().filter(|e| f.matches(e)) {
            let start_secs = e.ts_ns / 1_000_000_000 / width * width;
            if out.last().map(|b| b.start_secs) != Some(start_secs) {
                out.push(Bucket {
                    start_secs,
                    ..Default::default()
                });
            }
            let b = out.last_mut().expect("pushed above");
            if e.fd == STDERR {
                b.stderr += 1;
            } else {
                b.stdout += 1;
            }
        }
        out
    }
}

/// Splits a byte stream into text at character boundaries: a UTF-8 sequence cut between
/// two reads is kept whole; invalid bytes become U+FFFD.
#[derive(Default)]
pub struct Utf8Carry {
    pending: Vec<u8>,
}

impl Utf8Carry {
    /// The text of `pending + bytes` up to its last complete character.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let cut = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            // an incomplete sequence at the very end waits for the next read
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            // invalid bytes somewhere: keep only a trailing incomplete sequence
            Err(_) => self.pending.len() - incomplete_tail(&self.pending),
        };
        let rest = self.pending.split_off(cut);
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending = rest;
        text
    }

    /// What is left at the end of the stream.
    pub fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}

/// Length of an incomplete (so far valid) UTF-8 sequence ending `b`.
fn incomplete_tail(b: &[u8]) -> usize {
    for n in 1..=3.min(b.len()) {
        let lead = b[b.len() - n];
        if lead & 0xC0 != 0x80 {
            let want = match lead {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 0,
            };
            return if want > n { n } else { 0 };
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Filter = Filter {
        since_ns: 0,
        until_ns: u64::MAX,
        fd: 0,
        search: "",
    };

    #[test]
    fn lines_are_entries_in_order() {
        let j = LogJournal::default();
        j.append(STDOUT, 10, "a\nb\nc");
        j.append(STDERR, 20, "err\n");
        let data = |j: &LogJournal| -> Vec<(i32, String)> {
            j.fetch(&ALL, 0)
                .into_iter()
                .map(|e| (e.fd, e.data))
                .collect()
        };
        // the unfinished "c" is shown last, as the newest
        assert_eq!(
            data(&j),
            [(1, "a\n"), (1, "b\n"), (2, "err\n"), (1, "c")].map(|(f, d)| (f, d.to_string()))
        );
        j.append(STDOUT, 30, "d\ne");
        j.close(STDOUT);
        assert_eq!(
            data(&j),
            [(1, "a\n"), (1, "b\n"), (2, "err\n"), (1, "cd\n"), (1, "e")]
                .map(|(f, d)| (f, d.to_string()))
        );
        // times only go forward: an earlier stamp given later is raised
        j.append(STDERR, 5, "late\n");
        assert_eq!(j.fetch(&ALL, 1)[0].ts_ns, 30);
    }

    #[test]
    fn a_line_split_across_reads_is_one_entry() {
        let j = LogJournal::default();
        let line = "x".repeat(10_000) + "\n";
        for (i, piece) in line.as_bytes().chunks(4096).enumerate() {
            j.append(STDOUT, i as u64, std::str::from_utf8(piece).unwrap());
        }
        let all = j.fetch(&ALL, 0);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].data, line);
        // a line without end is not held past MAX_LINE
        for _ in 0..3 {
            j.append(STDOUT, 9, &"y".repeat(MAX_LINE / 2 + 1));
        }
        let all = j.fetch(&ALL, 0);
        assert_eq!(
            all.iter().map(|e| e.data.len()).collect::<Vec<_>>(),
            [10_001, MAX_LINE + 2, MAX_LINE / 2 + 1]
        );
    }

    #[test]
    fn filters_and_limit_take_the_newest() {
        let j = LogJournal::default();
        for i in 0..10u64 {
            j.append(
                if i % 2 == 0 { STDOUT } else { STDERR },
                i,
                &format!("line {i}\n"),
            );
        }
        let tail = j.fetch(&ALL, 3);
        assert_eq!(tail.iter().map(|e| e.ts_ns).collect::<Vec<_>>(), [7, 8, 9]);
        let f = Filter { fd: STDERR, ..ALL };
        assert_eq!(j.fetch(&f, 0).len(), 5);
        let f = Filter {
            since_ns: 2,
            until_ns: 4,
            ..ALL
        };
        assert_eq!(
            j.fetch(&f, 0).iter().map(|e| e.ts_ns).collect::<Vec<_>>(),
            [2, 3]
        );
        let f = Filter {
            search: "line 7",
            ..ALL
        };
        assert_eq!(j.fetch(&f, 0).len(), 1);
    }

    #[test]
    fn counts_by_bucket_and_source() {
        let j = LogJournal::default();
        let s = 1_000_000_000u64;
        j.append(STDOUT, 100 * s, "a\nb\n");
        j.append(STDERR, 101 * s, "c\n");
        j.append(STDOUT, 125 * s, "d\n");
        let b = j.count(&ALL, 10);
        assert_eq!(
            b,
            [
                Bucket {
                    start_secs: 100,
                    stdout: 2,
                    stderr: 1
                },
                Bucket {
                    start_secs: 120,
                    stdout: 1,
                    stderr: 0
                },
            ]
        );
    }

    #[test]
    fn keeps_the_last_cap_bytes() {
        let j = LogJournal::default();
        let line = "x".repeat(1023) + "\n";
        for i in 0..(CAP_BYTES / 1024 + 10) as u64 {
            j.append(STDOUT, i, &line);
        }
        let all = j.fetch(&ALL, 0);
        assert!(all.len() <= CAP_BYTES / 1024);
        assert_eq!(all.last().unwrap().ts_ns, (CAP_BYTES / 1024 + 9) as u64);
    }

    #[test]
    fn utf8_split_across_reads_is_kept_whole() {
        let mut c = Utf8Carry::default();
        let bytes = "é€😀\n".as_bytes();
        let mut text = String::new();
        for b in bytes {
            text += &c.push(&[*b]);
        }
        text += &c.finish();
        assert_eq!(text, "é€😀\n");
        let mut c = Utf8Carry::default();
        assert_eq!(c.push(b"a\xffb\xe2\x82"), "a\u{fffd}b");
        assert_eq!(c.push(b"\xac"), "€");
        assert_eq!(c.push(b"\xe2"), "");
        assert_eq!(c.finish(), "\u{fffd}");
    }
}
