//! Revoked tokens: a small text file that `sandboxd token revoke` appends to and every
//! server re-reads when it changes (checked at most once a second), so a revocation takes
//! effect within seconds on every replica that reads the same file. One line per entry:
//!
//!     jti <token id> <unix time the entry may be forgotten>
//!     sub <subject> <unix time of the revocation>
//!
//! A revoked `jti` is refused until the entry's time (its token's expiry at most 24 h
//! later). A revoked `sub` refuses that subject's tokens issued at or before the revocation
//! (the app stops minting for it; new tokens minted later work again); the entry is
//! forgotten 24 h after, when every such token has expired.

use crate::sync::lock;
use crate::tokens::{Claims, MAX_TTL_SECS};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};
use tonic::Status;

const RECHECK: Duration = Duration::from_secs(1);

#[derive(Default)]
struct List {
    jtis: HashMap<String, u64>,
    subs: HashMap<String, u64>,
}

impl List {
    fn parse(text: &str) -> List {
        let mut l = List::default();
        for line in text.lines() {
            let mut w = line.split_whitespace();
            let (Some(kind), Some(id), Some(t)) = (w.next(), w.next(), w.next()) else {
                continue;
            };
            let Ok(t) = t.parse::<u64>() else { continue };
            let map = match kind {
                "jti" => &mut l.jtis,
                "sub" => &mut l.subs,
                _ => continue,
            };
            let e = map.entry(id.to_string()).or_insert(t);
            *e = (*e).max(t);
        }
        l
    }

    fn refuses(&self, c: &Claims) -> bool {
        let jti = !c.jti.is_empty() && self.jtis.contains_key(&c.jti);
        let sub = self.subs.get(&c.sub).is_some_and(|at| c.iat <= *at);
        jti || sub
    }
}

struct Loaded {
    list: List,
    modified: Option<SystemTime>,
    checked: Instant,
}

pub struct Revocations {
    path: Option<PathBuf>,
    state: Mutex<Loaded>,
}

impl Revocations {
    pub fn new(path: Option<PathBuf>) -> Revocations {
        let r = Revocations {
            path,
            state: Mutex::new(Loaded {
                list: List::default(),
                modified: None,
                checked: Instant::now() - RECHECK,
            }),
        };
        r.refresh();
        r
    }

    fn refresh(&self) {
        let Some(path) = &self.path else { return };
        let mut st = lock(&self.state);
        if st.checked.elapsed() < RECHECK {
            return;
        }
        st.checked = Instant::now();
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified == st.modified {
            return;
        }
        match std::fs::read_to_string(path) {
            Ok(text) => st.list = List::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => st.list = List::default(),
            Err(e) => {
                // keep the last list rather than forgetting revocations
                tracing::error!("reading the revocation list {}: {e}", path.display());
                return;
            }
        }
        st.modified = modified;
    }

    /// UNAUTHENTICATED for a revoked token.
    pub fn check(&self, c: &Claims) -> Result<(), Status> {
        self.refresh();
        let st = lock(&self.state);
        if st.list.refuses(c) {
            return Err(Status::unauthenticated("this token has been revoked"));
        }
        Ok(())
    }
}

/// Adds a revocation to the list at `path` (created if missing), dropping entries that
/// can no longer match a live token; written whole and renamed into place.
pub fn revoke(path: &Path, jti: Option<&str>, sub: Option<&str>) -> anyhow::Result<()> {
    let now = crate::auth::now_secs();
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut keep: Vec<String> = old
        .lines()
        .filter(|line| {
            let mut w = line.split_whitespace();
            match (w.next(), w.nth(1).and_then(|t| t.parse::<u64>().ok())) {
                (Some("jti"), Some(until)) => until > now,
                (Some("sub"), Some(at)) => at + MAX_TTL_SECS + 60 > now,
                _ => false,
            }
        })
        .map(str::to_string)
        .collect();
    let clean = |s: &str, what: &str| -> anyhow::Result<String> {
        if s.is_empty() || s.chars().any(char::is_whitespace) {
            anyhow::bail!("the {what} to revoke must be non-empty and without spaces");
        }
        Ok(s.to_string())
    };
    if let Some(j) = jti {
        keep.push(format!(
            "jti {} {}",
            clean(j, "jti")?,
            now + MAX_TTL_SECS + 60
        ));
    }
    if let Some(s) = sub {
        keep.push(format!("sub {} {now}", clean(s, "sub")?));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, keep.join("\n") + "\n")?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::Scope;

    fn claims(sub: &str, jti: &str, iat: u64) -> Claims {
        Claims {
            sub: sub.into(),
            app: "a".into(),
            tags: Default::default(),
            scopes: vec![Scope::Read],
            sandboxes: None,
            exp: iat + 60,
            iat,
            jti: jti.into(),
        }
    }

    #[test]
    fn jti_and_sub_revocations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked");
        let r = Revocations::new(Some(path.clone()));
        let now = crate::auth::now_secs();
        assert!(r.check(&claims("u", "j1", now)).is_ok());
        revoke(&path, Some("j1"), None).unwrap();
        revoke(&path, None, Some("u2")).unwrap();
        std::thread::sleep(RECHECK);
        assert!(r.check(&claims("u", "j1", now)).is_err(), "revoked jti");
        assert!(r.check(&claims("u", "j2", now)).is_ok());
        assert!(
            r.check(&claims("u2", "j3", now)).is_err(),
            "revoked subject"
        );
        assert!(
            r.check(&claims("u2", "j4", now + 5)).is_ok(),
            "minted after the revocation"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(revoke(&path, Some("has space"), None).is_err());
    }

    #[test]
    fn no_list_revokes_nothing() {
        let r = Revocations::new(None);
        assert!(r.check(&claims("u", "j", 0)).is_ok());
    }
}
