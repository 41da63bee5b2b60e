//! The bookkeeping of `sandbox.open(path, mode)`: Python's open modes, the file's bytes
//! held locally, the position, `seek`, and when a write-back is due. The facade loads the
//! file with the helper's `ReadFile` and writes it back whole with `WriteFile` on
//! `flush()`/`close()`.

use crate::error::{Error, ErrorKind, Result};

/// A parsed open mode: `r`, `w`, `a`, `x`, each optionally with `+` and `b`/`t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// `read()` allowed.
    pub readable: bool,
    /// `write()` allowed.
    pub writable: bool,
    /// Truncate (or create) at open: `w`.
    pub truncate: bool,
    /// Create if missing: `w`, `a`, `x`.
    pub create: bool,
    /// Fail if it exists: `x`.
    pub exclusive: bool,
    /// Writes always go to the end: `a`.
    pub append: bool,
    /// Bytes (`b`) rather than text.
    pub binary: bool,
}

impl Mode {
    /// Parses a Python mode string such as `"r"`, `"wb"`, `"a+"`, `"x+b"`.
    pub fn parse(s: &str) -> Result<Mode> {
        let bad = || Error::invalid(format!("invalid mode: '{s}'"));
        let mut base = None;
        let (mut plus, mut binary, mut text) = (false, false, false);
        for c in s.chars() {
            match c {
                'r' | 'w' | 'a' | 'x' if base.is_none() => base = Some(c),
                '+' if !plus => plus = true,
                'b' if !binary && !text => binary = true,
                't' if !binary && !text => text = true,
                _ => return Err(bad()),
            }
        }
        let base = base.ok_or_else(bad)?;
        Ok(Mode {
            readable: base == 'r' || plus,
            writable: base != 'r' || plus,
            truncate: base == 'w',
            create: base != 'r',
            exclusive: base == 'x',
            append: base == 'a',
            binary,
        })
    }
}

/// An open file's state.
#[derive(Debug)]
pub struct FileState {
    /// The open mode.
    pub mode: Mode,
    data: Vec<u8>,
    pos: usize,
    /// Bumped by every change; a write-back records the version it saved.
    version: u64,
    saved: u64,
    closed: bool,
}

impl FileState {
    /// A file opened with `mode` whose current content is `data` (empty when truncated or
    /// created). When `dirty`, the first flush writes it (creating or truncating the file).
    pub fn new(mode: Mode, data: Vec<u8>, dirty: bool) -> FileState {
        let pos = if mode.append { data.len() } else { 0 };
        FileState {
            mode,
            data,
            pos,
            version: u64::from(dirty),
            saved: 0,
            closed: false,
        }
    }

    fn check(&self) -> Result<()> {
        if self.closed {
            return Err(Error::new(
                ErrorKind::ClientClosed,
                "I/O operation on closed file",
            ));
        }
        Ok(())
    }

    fn check_read(&self) -> Result<()> {
        self.check()?;
        if !self.mode.readable {
            return Err(Error::invalid("file not open for reading"));
        }
        Ok(())
    }

    /// The current position in bytes.
    pub fn tell(&self) -> Result<u64> {
        self.check()?;
        Ok(self.pos as u64)
    }

    /// The file's size in bytes (local view).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the file is empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Reads up to `n` bytes (all remaining when `None`) and advances.
    pub fn read(&mut self, n: Option<usize>) -> Result<Vec<u8>> {
        self.check_read()?;
        let start = self.pos.min(self.data.len());
        let end = n.map_or(self.data.len(), |n| {
            start.saturating_add(n).min(self.data.len())
        });
        self.pos = end.max(self.pos);
        Ok(self.data[start..end].to_vec())
    }

    /// Reads up to `n` characters of UTF-8 text (all remaining when `None`) and advances
    /// by the bytes they took. Invalid bytes become U+FFFD.
    pub fn read_text(&mut self, n: Option<usize>) -> Result<String> {
        self.check_read()?;
        let start = self.pos.min(self.data.len());
        let rest = &self.data[start..];
        let end = match n {
            None => rest.len(),
            Some(n) => char_boundary_after(rest, n),
        };
        self.pos = start + end;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    /// Reads through the next `\n` (included) or to the end.
    pub fn readline(&mut self) -> Result<Vec<u8>> {
        self.check_read()?;
        let start = self.pos.min(self.data.len());
        let rest = &self.data[start..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        self.pos = start + end;
        Ok(rest[..end].to_vec())
    }

    /// Writes `bytes` at the position (at the end in append mode), extending the file and
    /// zero-filling any gap left by a seek past the end. Returns the count written.
    pub fn write(&mut self, bytes: &[u8]) -> Result<usize> {
        self.check()?;
        if !self.mode.writable {
            return Err(Error::invalid("file not open for writing"));
        }
        if self.mode.append {
            self.pos = self.data.len();
        }
        let end = self.pos + bytes.len();
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[self.pos..end].copy_from_slice(bytes);
        self.pos = end;
        self.version += 1;
        Ok(bytes.len())
    }

    /// Moves the position: `whence` 0 from the start, 1 from the current position, 2 from
    /// the end. Returns the new position.
    pub fn seek(&mut self, offset: i64, whence: u8) -> Result<u64> {
        self.check()?;
        let base = match whence {
            0 => 0i64,
            1 => self.pos as i64,
            2 => self.data.len() as i64,
            _ => return Err(Error::invalid("invalid whence (should be 0, 1 or 2)")),
        };
        // Messages without the numbers: no integer formatting of i64 pulled in for this.
        let target = base
            .checked_add(offset)
            .ok_or_else(|| Error::invalid("seek position out of range"))?;
        if target < 0 {
            return Err(Error::invalid("negative seek position"));
        }
        if target > (1i64 << 40) {
            return Err(Error::invalid("seek position too large"));
        }
        self.pos = target as usize;
        Ok(self.pos as u64)
    }

    /// The bytes to write back and their version, if there are unsaved changes.
    pub fn pending(&self) -> Result<Option<(Vec<u8>, u64)>> {
        self.check()?;
        Ok((self.version != self.saved).then(|| (self.data.clone(), self.version)))
    }

    /// Records that `version` was written back.
    pub fn saved(&mut self, version: u64) {
        self.saved = self.saved.max(version);
    }

    /// Closes the file; later calls fail. Idempotent.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// The byte length of the first `n` UTF-8 characters of `b` (all of `b` if shorter).
fn char_boundary_after(b: &[u8], n: usize) -> usize {
    let mut chars = 0;
    for (i, &c) in b.iter().enumerate() {
        // A character starts at every byte that is not a continuation byte.
        if c & 0xC0 != 0x80 {
            if chars == n {
                return i;
            }
            chars += 1;
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_like_python() {
        let r = Mode::parse("r").unwrap();
        assert!(r.readable && !r.writable && !r.create && !r.binary);
        let w = Mode::parse("wb").unwrap();
        assert!(!w.readable && w.writable && w.truncate && w.create && w.binary);
        let a = Mode::parse("a+").unwrap();
        assert!(a.readable && a.writable && a.append && !a.truncate);
        let x = Mode::parse("x+b").unwrap();
        assert!(x.exclusive && x.create && x.readable && x.binary);
        let rp = Mode::parse("rb+").unwrap();
        assert!(rp.readable && rp.writable && !rp.create);
        for bad in ["", "rw", "q", "r++", "bt", "rbb", "+"] {
            assert!(Mode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn read_write_seek() {
        let mut f = FileState::new(
            Mode::parse("r+").unwrap(),
            b"hello\nworld\n".to_vec(),
            false,
        );
        assert!(f.pending().unwrap().is_none());
        assert_eq!(f.readline().unwrap(), b"hello\n");
        assert_eq!(f.read(Some(3)).unwrap(), b"wor");
        assert_eq!(f.tell().unwrap(), 9);
        assert_eq!(f.seek(0, 0).unwrap(), 0);
        assert_eq!(f.write(b"HE").unwrap(), 2);
        assert_eq!(f.seek(-1, 2).unwrap(), 11);
        f.write(b"!!").unwrap();
        assert_eq!(f.seek(0, 0).unwrap(), 0);
        assert_eq!(f.read(None).unwrap(), b"HEllo\nworld!!");
        assert_eq!(f.read(None).unwrap(), b"");
        let (data, v) = f.pending().unwrap().unwrap();
        assert_eq!(data, b"HEllo\nworld!!");
        f.saved(v);
        assert!(f.pending().unwrap().is_none());
        // Seek past the end, then write: the gap is zero-filled.
        f.seek(2, 1).unwrap();
        f.write(b"z").unwrap();
        assert_eq!(f.len(), 16);
        assert!(f.seek(-100, 1).is_err());
        assert!(f.seek(0, 3).is_err());
    }

    #[test]
    fn append_mode_writes_at_the_end() {
        let mut f = FileState::new(Mode::parse("a+").unwrap(), b"abc".to_vec(), false);
        assert_eq!(f.tell().unwrap(), 3);
        f.seek(0, 0).unwrap();
        f.write(b"d").unwrap();
        f.seek(0, 0).unwrap();
        assert_eq!(f.read(None).unwrap(), b"abcd");
    }

    #[test]
    fn truncated_files_are_pending_at_once() {
        let f = FileState::new(Mode::parse("w").unwrap(), Vec::new(), true);
        assert_eq!(f.pending().unwrap().unwrap().0, b"");
    }

    #[test]
    fn permissions_and_close() {
        let mut r = FileState::new(Mode::parse("r").unwrap(), b"x".to_vec(), false);
        assert_eq!(r.write(b"y").unwrap_err().kind, ErrorKind::Invalid);
        let mut w = FileState::new(Mode::parse("w").unwrap(), Vec::new(), true);
        assert_eq!(w.read(None).unwrap_err().kind, ErrorKind::Invalid);
        r.close();
        r.close();
        assert!(r.is_closed());
        assert_eq!(r.read(None).unwrap_err().kind, ErrorKind::ClientClosed);
        assert_eq!(r.seek(0, 0).unwrap_err().kind, ErrorKind::ClientClosed);
        assert!(r.pending().is_err());
    }

    #[test]
    fn text_reads_count_characters() {
        let mut f = FileState::new(
            Mode::parse("r").unwrap(),
            "añ€😀b".as_bytes().to_vec(),
            false,
        );
        assert_eq!(f.read_text(Some(2)).unwrap(), "añ");
        assert_eq!(f.tell().unwrap(), 3);
        assert_eq!(f.read_text(Some(2)).unwrap(), "€😀");
        assert_eq!(f.read_text(Some(5)).unwrap(), "b");
        assert_eq!(f.read_text(None).unwrap(), "");
        f.seek(0, 0).unwrap();
        assert_eq!(f.read_text(None).unwrap(), "añ€😀b");
    }
}
