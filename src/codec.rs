//! A call's request encoded as prost's `encode_to_vec` encodes it, without what that
//! repeats for every message type: `encode_to_vec` sizes its buffer with the message's
//! `encoded_len`, so every request type brought its own copy of both (about 0.3 KB of wasm
//! each, ~30 types). Here the buffer grows as the message is written. (Decoding stays
//! prost's `Message::decode`: one key loop over a `dyn` field decoder measured 184 B
//! larger than its per-type loops.)

use prost::Message;

/// `msg`'s bytes (the same bytes as `encode_to_vec`).
pub(crate) fn encode(msg: &impl Message) -> Vec<u8> {
    let mut buf = Vec::new();
    msg.encode_raw(&mut buf);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use modal_proto::client as pb;

    #[test]
    fn encodes_as_prost_does() {
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
        assert_eq!(encode(&msg), msg.encode_to_vec());
        assert_eq!(
            encode(&pb::SandboxTagsSetRequest::default()),
            Vec::<u8>::new()
        );
    }
}
