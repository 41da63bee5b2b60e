//! UTF-8 text from bytes: whole (`lossy`, `lossy_owned`) or incrementally for text-mode
//! streams (a code point split across two chunks is held back until its end arrives);
//! invalid bytes become U+FFFD. And `split_once_byte`, a split at an ASCII byte.

/// `bytes` as text, invalid sequences as U+FFFD (`String::from_utf8_lossy`). In wasm an
/// invalid text is decoded by the JS engine's `TextDecoder` (the same replacements, as both
/// follow the Unicode recommendation), which keeps core's lossy decoder out of the package.
pub(crate) fn lossy(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        #[cfg(target_arch = "wasm32")]
        Err(_) => crate::js::decode_utf8(bytes),
        #[cfg(not(target_arch = "wasm32"))]
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// [`lossy`] of bytes the caller owns: valid UTF-8 (the usual case) becomes the `String`
/// without a copy.
pub(crate) fn lossy_owned(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| lossy(e.as_bytes()))
}

/// `s` split around its first `byte` (ASCII): `split_once` for a char, without core's
/// char searcher in the wasm.
pub(crate) fn split_once_byte(s: &str, byte: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == byte)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// Decodes a byte stream chunk by chunk.
#[derive(Debug, Default)]
pub struct Utf8Decoder {
    pending: Vec<u8>,
}

impl Utf8Decoder {
    /// A decoder with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes `chunk`, keeping an incomplete trailing code point for the next call.
    pub fn push(&mut self, chunk: &[u8]) -> String {
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(chunk);
        let mut out = String::with_capacity(buf.len());
        let mut rest = &buf[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // SAFETY-free: `valid` was just checked by from_utf8.
                    out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{FFFD}');
                            rest = &after[n..];
                        }
                        None => {
                            self.pending = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        out
    }

    /// Ends the stream: an incomplete code point left over becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        if self.pending.is_empty() {
            String::new()
        } else {
            self.pending.clear();
            "\u{FFFD}".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_code_points() {
        let text = "héllo → 世界 🎉";
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let mut d = Utf8Decoder::new();
            let mut s = d.push(&bytes[..cut]);
            s += &d.push(&bytes[cut..]);
            s += &d.finish();
            assert_eq!(s, text, "cut {cut}");
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let text = "日本語🎉";
        let mut d = Utf8Decoder::new();
        let s: String = text.as_bytes().iter().map(|b| d.push(&[*b])).collect();
        assert_eq!(s + &d.finish(), text);
    }

    #[test]
    fn invalid_and_truncated() {
        let mut d = Utf8Decoder::new();
        assert_eq!(d.push(b"a\xffb"), "a\u{FFFD}b");
        assert_eq!(d.push(b"\xe4\xb8"), "");
        assert_eq!(d.finish(), "\u{FFFD}");
    }
}
