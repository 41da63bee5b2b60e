//! A call's request encoded and its reply decoded, as prost's `encode_to_vec` and `decode`
//! do, with what they repeat for every message type written once. prost instantiates its
//! top-level decode (`decode`, then `merge` and its key loop) and `encode_to_vec` (with the
//! message's `encoded_len` for the capacity) per message type: about 0.5 KB of wasm for
//! each of the ~50 requests and replies. Here the key loop is one function over a `dyn`
//! field decoder, and a request grows its buffer as it is written.

use bytes::Bytes;
use prost::encoding::{decode_key, DecodeContext, WireType};
use prost::{DecodeError, Message};

/// `msg`'s bytes (the same bytes as `encode_to_vec`).
pub(crate) fn encode(msg: &impl Message) -> Vec<u8> {
    let mut buf = Vec::new();
    msg.encode_raw(&mut buf);
    buf
}

/// The message in `buf` (as `M::decode(buf)`).
pub(crate) fn decode<M: Message + Default>(mut buf: Bytes) -> Result<M, DecodeError> {
    let mut msg = M::default();
    merge_fields(&mut buf, &mut |tag, wire_type, buf| {
        msg.merge_field(tag, wire_type, buf, DecodeContext::default())
    })?;
    Ok(msg)
}

/// Each field of a message's bytes, given to `field` to decode (`Message::merge`'s loop).
fn merge_fields(
    buf: &mut Bytes,
    field: &mut dyn FnMut(u32, WireType, &mut Bytes) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    while !buf.is_empty() {
        let (tag, wire_type) = decode_key(buf)?;
        field(tag, wire_type, buf)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use modal_proto::client as pb;

    #[test]
    fn encodes_and_decodes_as_prost_does() {
        let msg = pb::SandboxTagsSetRequest {
            environment_name: "main".into(),
            sandbox_id: "sb-1".into(),
            tags: vec![
                pb::SandboxTag {
                    tag_name: "a".into(),
                    tag_value: "1".into(),
                },
                pb::SandboxTag {
                    tag_name: "b".into(),
                    tag_value: String::new(),
                },
            ],
        };
        let bytes = encode(&msg);
        assert_eq!(bytes, msg.encode_to_vec());
        let back: pb::SandboxTagsSetRequest = decode(Bytes::from(bytes)).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn refuses_what_prost_refuses() {
        // a truncated length-delimited field, then a key with wire type 7
        for bad in [&[0x0a, 0x05, b'a'][..], &[0x0f][..]] {
            let ours = decode::<pb::SandboxTagsSetRequest>(Bytes::copy_from_slice(bad));
            let prost = pb::SandboxTagsSetRequest::decode(bad);
            assert_eq!(
                ours.unwrap_err().to_string(),
                prost.unwrap_err().to_string()
            );
        }
    }
}
