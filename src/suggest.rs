//! The refusal of an option key a call does not know: the renamed names Modal's JS client
//! refuses with their new name (same message), any other with the nearest known name.

use crate::error::Error;

/// Old names Modal's JS client refuses (`checkForRenamedParams`), with their new names. One
/// applies where its new name is an option of the call.
const RENAMED: [(&str, &str); 5] = [
    ("timeout", "timeoutMs"),
    ("idleTimeout", "idleTimeoutMs"),
    ("memory", "memoryMiB"),
    ("memoryLimit", "memoryLimitMiB"),
    ("cidrAllowlist", "outboundCidrAllowlist"),
];

/// Levenshtein distance of `a` and `b`, ignoring ASCII case (`memoryMib` is one edit from
/// `memoryMiB`'s spelling, but the case slip is the likelier mistake).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.to_ascii_lowercase().into_bytes();
    let mut row = Vec::with_capacity(b.len() + 1);
    for j in 0..b.len() + 1 {
        row.push(j);
    }
    for (i, ca) in a.bytes().map(|c| c.to_ascii_lowercase()).enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let next = (diag + usize::from(ca != b[j]))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The known name nearest to `key`, if one is near enough to be what was meant: at most a
/// third of the key's length away (and at least 2 edits allowed, at most 4).
pub(crate) fn nearest<'a>(key: &str, known: &'a [String]) -> Option<&'a str> {
    let limit = (key.len() / 3).clamp(2, 4);
    let mut best: Option<(usize, &str)> = None;
    for k in known {
        let d = edit_distance(key, k);
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

/// The error for `key`, not an option of `what` (whose options are `known`).
pub(crate) fn unknown_option(what: &str, key: &str, known: &[String]) -> Error {
    if let Some((old, new)) = RENAMED
        .iter()
        .find(|(old, new)| *old == key && known.iter().any(|k| k == new))
    {
        // Modal's JS client's words.
        return Error::invalid(format!("Parameter '{old}' has been renamed to '{new}'."));
    }
    let hint = match nearest(key, known) {
        Some(k) => format!(" (did you mean '{k}'?)"),
        None => String::new(),
    };
    Error::invalid(format!("unknown option '{key}' in {what}{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("timout", "timeout"), 1);
        assert_eq!(edit_distance("memoryMib", "memoryMiB"), 0);
        assert_eq!(edit_distance("ab", "ba"), 2);
    }

    #[test]
    fn nearest_name() {
        let known = names(&["timeoutMs", "idleTimeoutMs", "workdir", "env", "tags"]);
        assert_eq!(nearest("timoutMs", &known), Some("timeoutMs"));
        assert_eq!(nearest("workDir", &known), Some("workdir"));
        assert_eq!(nearest("idleTimeoutMS", &known), Some("idleTimeoutMs"));
        assert_eq!(nearest("tag", &known), Some("tags"));
        assert_eq!(nearest("completelyDifferent", &known), None);
        assert_eq!(nearest("x", &names(&[])), None);
    }

    #[test]
    fn renamed_as_modal_js_where_the_new_name_is_known() {
        let known = names(&["timeoutMs", "memoryMiB", "outboundCidrAllowlist"]);
        let e = unknown_option("params", "timeout", &known);
        assert_eq!(e.kind, crate::error::ErrorKind::Invalid);
        assert_eq!(
            e.message,
            "Parameter 'timeout' has been renamed to 'timeoutMs'."
        );
        let e = unknown_option("params", "cidrAllowlist", &known);
        assert!(
            e.message.contains("'outboundCidrAllowlist'"),
            "{}",
            e.message
        );
        // `timeout` where no `timeoutMs` exists is just unknown
        let e = unknown_option("params", "timeout", &names(&["tags"]));
        assert_eq!(e.message, "unknown option 'timeout' in params");
        let e = unknown_option("params", "tgs", &names(&["tags"]));
        assert_eq!(
            e.message,
            "unknown option 'tgs' in params (did you mean 'tags'?)"
        );
    }
}
