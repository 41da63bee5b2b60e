//! How a client proves who it is: a workspace token pair (a local sandboxd, a trusted
//! server), or a scoped, expiring bearer token minted by the app's backend (a browser
//! through a gateway), with an optional callback that fetches fresh ones.

use std::future::Future;
use std::rc::Rc;

use futures_util::future::LocalBoxFuture;

use crate::error::{Error, ErrorKind, Result};

/// Fetches a fresh scoped token, e.g. from the app's backend (JS: the `getToken` option).
pub type TokenSource = Rc<dyn Fn() -> LocalBoxFuture<'static, Result<String>>>;

/// A client's credentials.
#[derive(Clone)]
pub enum Credentials {
    /// A workspace token pair, sent as `x-modal-token-id` / `x-modal-token-secret`. Only
    /// for a local sandboxd or a trusted server: never ship a workspace secret to a browser.
    Workspace {
        /// `ak-...`
        token_id: String,
        /// `as-...`
        token_secret: String,
    },
    /// A scoped, expiring token minted by the app's backend, sent as `authorization:
    /// Bearer` (a gateway, or a sandboxd with a signing key).
    Bearer {
        /// The token to use until it needs a refresh.
        token: Option<String>,
        /// Called for a new token before the current one expires, and once after an
        /// UNAUTHENTICATED reply.
        source: Option<TokenSource>,
    },
}

impl std::fmt::Debug for Credentials {
    /// Never prints a secret or a token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Workspace { token_id, .. } => f
                .debug_struct("Workspace")
                .field("token_id", token_id)
                .finish_non_exhaustive(),
            Credentials::Bearer { source, .. } => f
                .debug_struct("Bearer")
                .field("source", &source.is_some())
                .finish_non_exhaustive(),
        }
    }
}

impl Credentials {
    /// A workspace token pair.
    pub fn workspace(token_id: impl Into<String>, token_secret: impl Into<String>) -> Self {
        Credentials::Workspace {
            token_id: token_id.into(),
            token_secret: token_secret.into(),
        }
    }

    /// A scoped token, used as is (no refresh).
    pub fn token(token: impl Into<String>) -> Self {
        Credentials::Bearer {
            token: Some(token.into()),
            source: None,
        }
    }

    /// Scoped tokens from `source`, asked for one before the first call, before each
    /// token expires (by its `exp` claim), and once after an UNAUTHENTICATED reply.
    pub fn token_source<F, Fut>(source: F) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<String>> + 'static,
    {
        Credentials::Bearer {
            token: None,
            source: Some(Rc::new(move || Box::pin(source()))),
        }
    }

    /// The credentials checked: a non-empty token pair, or a non-empty token and/or a
    /// source.
    pub(crate) fn checked(self) -> Result<Credentials> {
        match &self {
            Credentials::Workspace {
                token_id,
                token_secret,
            } if token_id.is_empty() || token_secret.is_empty() => Err(Error::new(
                ErrorKind::Auth,
                "tokenId and tokenSecret must be non-empty (or give a token / getToken)",
            )),
            Credentials::Bearer {
                token: Some(t),
                source: _,
            } if t.is_empty() => Err(Error::new(ErrorKind::Auth, "token must be non-empty")),
            Credentials::Bearer {
                token: None,
                source: None,
            } => Err(Error::new(ErrorKind::Auth, "no token and no token source")),
            _ => Ok(self),
        }
    }

    /// The credentials of the JS constructor's options: a token pair, or a token and/or
    /// `getToken`, never both kinds.
    pub(crate) fn from_options(
        token_id: String,
        token_secret: String,
        token: Option<String>,
        source: Option<TokenSource>,
    ) -> Result<Credentials> {
        let pair = !token_id.is_empty() || !token_secret.is_empty();
        let bearer = token.is_some() || source.is_some();
        if pair && bearer {
            return Err(Error::invalid(
                "give either tokenId and tokenSecret, or token / getToken, not both",
            ));
        }
        if bearer {
            Credentials::Bearer { token, source }.checked()
        } else {
            Credentials::workspace(token_id, token_secret).checked()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_give_one_kind_of_credentials() {
        let c = |id: &str, secret: &str, token: Option<&str>| {
            Credentials::from_options(id.into(), secret.into(), token.map(Into::into), None)
        };
        assert!(matches!(
            c("ak", "as", None),
            Ok(Credentials::Workspace { .. })
        ));
        assert!(matches!(
            c("", "", Some("t")),
            Ok(Credentials::Bearer { .. })
        ));
        assert_eq!(
            c("ak", "as", Some("t")).unwrap_err().kind,
            ErrorKind::Invalid
        );
        assert_eq!(c("", "", None).unwrap_err().kind, ErrorKind::Auth);
        assert_eq!(c("ak", "", None).unwrap_err().kind, ErrorKind::Auth);
        assert_eq!(c("", "", Some("")).unwrap_err().kind, ErrorKind::Auth);
        let debug = format!("{:?}", c("ak-1", "as-secret", None).unwrap());
        assert!(!debug.contains("as-secret"), "{debug}");
    }
}
