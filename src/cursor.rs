//! Resume cursors for output streams: how many bytes were delivered, and which bytes of a
//! reopened stream are new, so that a reconnect loses and duplicates nothing.

/// The read position of one output stream (exec stdout/stderr or sandbox stdout/stderr).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadCursor {
    offset: u64,
    /// Absolute position of the next byte of the current attempt, once known.
    pos: Option<u64>,
}

impl ReadCursor {
    /// A cursor at byte 0.
    #[cfg(test)]
    pub fn new() -> Self {
        ReadCursor::default()
    }

    /// A cursor at `offset`: the bytes before it count as delivered.
    pub fn at(offset: u64) -> Self {
        ReadCursor { offset, pos: None }
    }

    /// Bytes delivered so far: the `offset` to request when (re)opening the stream.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// A new attempt (stream opened at [`offset`](Self::offset)) begins.
    pub fn begin_attempt(&mut self) {
        self.pos = None;
    }

    /// A chunk of `len` bytes arrived. `starting_offset` is the absolute offset of the
    /// attempt's first byte when the server reports it (SandboxStdioReadV2), else `None`
    /// (the server starts at exactly the requested offset).
    ///
    /// Returns how many leading bytes of the chunk to skip because they were already
    /// delivered (a server that replays from before the requested offset).
    pub fn accept(&mut self, starting_offset: Option<u64>, len: usize) -> usize {
        // Saturating: `starting_offset` comes from the network (a server near u64::MAX
        // must not overflow, which panics in debug builds).
        let len = len as u64;
        let start = self.pos.or(starting_offset).unwrap_or(self.offset);
        let end = start.saturating_add(len);
        self.pos = Some(end);
        if start > self.offset {
            // Older output was dropped by the server; continue after the gap.
            self.offset = end;
            return 0;
        }
        let skip = (self.offset - start).min(len);
        self.offset = self.offset.max(end);
        skip as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bytes_across_reconnects() {
        let mut c = ReadCursor::new();
        c.begin_attempt();
        assert_eq!(c.accept(None, 5), 0);
        assert_eq!(c.accept(None, 3), 0);
        assert_eq!(c.offset(), 8);
        c.begin_attempt();
        assert_eq!(c.accept(None, 4), 0);
        assert_eq!(c.offset(), 12);
    }

    #[test]
    fn skips_replayed_bytes() {
        let mut c = ReadCursor::new();
        c.begin_attempt();
        c.accept(Some(0), 10);
        c.begin_attempt();
        // Server replays from 6: 4 bytes already delivered.
        assert_eq!(c.accept(Some(6), 7), 4);
        assert_eq!(c.offset(), 13);
        // Later chunks of the same attempt follow on.
        assert_eq!(c.accept(Some(999), 2), 0);
        assert_eq!(c.offset(), 15);
    }

    #[test]
    fn whole_chunk_replayed() {
        let mut c = ReadCursor::new();
        c.begin_attempt();
        c.accept(Some(0), 10);
        c.begin_attempt();
        assert_eq!(c.accept(Some(2), 3), 3);
        assert_eq!(c.offset(), 10);
    }

    #[test]
    fn offsets_near_the_top_saturate() {
        let mut c = ReadCursor::new();
        c.begin_attempt();
        assert_eq!(c.accept(Some(u64::MAX - 1), 5), 0);
        assert_eq!(c.offset(), u64::MAX);
        assert_eq!(c.accept(None, 5), 0);
        c.begin_attempt();
        assert_eq!(c.accept(Some(u64::MAX - 2), 3), 2);
        assert_eq!(c.offset(), u64::MAX);
    }

    #[test]
    fn gap_is_skipped() {
        let mut c = ReadCursor::new();
        c.begin_attempt();
        assert_eq!(c.accept(Some(100), 5), 0);
        assert_eq!(c.offset(), 105);
    }
}
