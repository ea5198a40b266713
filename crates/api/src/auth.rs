//! Who is calling: the [`Caller`] extractor, per the configured [`AuthMode`].
//!
//! - `none`: every caller is anonymous (owner `None`) and sees every job.
//! - `iam`: API Gateway has checked the SigV4 signature; the caller is the IAM principal that
//!   `lambda_http` puts in the request extensions as a [`RequestContext`]. A request without
//!   one never passed through API Gateway's IAM check (a misconfiguration), so it is refused.
//! - `api_key`: the `x-api-key` header, hashed with SHA-256 and compared in constant time
//!   against every configured hash; the caller is `key:{name}`.
//!
//! The extractor is taken only by the routes that need a caller, so `/healthz` and
//! `/openapi.json` stay open by construction. The api crate depends on `lambda_http` for the
//! request-context types only: they are exactly what the Lambda runtime inserts, so no
//! conversion layer in the binary can drift from them, and the crate is compiled anyway for
//! the Lambda binary.

use std::collections::BTreeMap;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use bedrock_lb_config::{ApiConfig, AuthMode};
use lambda_http::request::RequestContext;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The header that carries an API key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// How callers are authenticated, with the configured key hashes decoded once at start-up.
#[derive(Clone, Default)]
pub struct AuthSettings {
    mode: AuthMode,
    /// Key name → SHA-256 of the key.
    keys: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key names only: hashes are not secrets, but there is no reason to print them.
        let names: Vec<&str> = self.keys.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("AuthSettings")
            .field("mode", &self.mode)
            .field("keys", &names)
            .finish()
    }
}

/// Why the auth settings could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    /// A configured hash is not 64 hex digits.
    #[error("api.api_keys.{0} is not a hex SHA-256 (64 hex digits)")]
    BadHash(String),
    /// `api_key` mode with no keys would refuse every caller.
    #[error("api.auth = \"api_key\" needs at least one key in api.api_keys")]
    NoKeys,
}

impl AuthSettings {
    /// No authentication.
    pub fn none() -> Self {
        Self::default()
    }

    /// IAM mode: callers are the principals API Gateway authenticated.
    pub fn iam() -> Self {
        Self {
            mode: AuthMode::Iam,
            keys: Vec::new(),
        }
    }

    /// API-key mode with `keys` (name → lowercase hex SHA-256 of the key).
    pub fn api_keys(keys: &BTreeMap<String, String>) -> Result<Self, AuthConfigError> {
        if keys.is_empty() {
            return Err(AuthConfigError::NoKeys);
        }
        let keys = keys
            .iter()
            .map(|(name, hex)| {
                decode_hex32(hex)
                    .map(|hash| (name.clone(), hash))
                    .ok_or_else(|| AuthConfigError::BadHash(name.clone()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            mode: AuthMode::ApiKey,
            keys,
        })
    }

    /// The settings `config` asks for.
    pub fn from_config(config: &ApiConfig) -> Result<Self, AuthConfigError> {
        match config.auth {
            AuthMode::None => Ok(Self::none()),
            AuthMode::Iam => Ok(Self::iam()),
            AuthMode::ApiKey => Self::api_keys(&config.api_keys),
        }
    }

    /// The configured mode.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// Authenticates a request from its parts.
    pub fn authenticate(&self, parts: &Parts) -> Result<Caller, ApiError> {
        match self.mode {
            AuthMode::None => Ok(Caller(None)),
            AuthMode::Iam => iam_principal(parts)
                .map(|p| Caller(Some(p)))
                .ok_or_else(|| {
                    ApiError::Unauthorized(
                        "the request carries no IAM identity; sign it with SigV4".into(),
                    )
                }),
            AuthMode::ApiKey => self
                .check_key(parts)
                .map(|name| Caller(Some(format!("key:{name}")))),
        }
    }

    fn check_key(&self, parts: &Parts) -> Result<&str, ApiError> {
        let Some(key) = parts.headers.get(API_KEY_HEADER) else {
            return Err(ApiError::Unauthorized(format!(
                "an API key is required in the `{API_KEY_HEADER}` header"
            )));
        };
        let digest = sha256(key.as_bytes());
        // Compare against every key without stopping early, so timing tells nothing.
        let mut found = None;
        for (name, hash) in &self.keys {
            if bool::from(hash.ct_eq(&digest)) {
                found = Some(name.as_str());
            }
        }
        found.ok_or_else(|| ApiError::Unauthorized("the API key is not valid".into()))
    }
}

/// The authenticated caller: the owner recorded on the jobs it submits (`None` when the API
/// runs without authentication).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub Option<String>);

impl Caller {
    /// The owner string, if any.
    pub fn owner(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    AuthSettings: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        AuthSettings::from_ref(state).authenticate(parts)
    }
}

/// The IAM principal of a request that came through API Gateway with IAM authorization:
/// the user ARN, else the caller id, else the account.
fn iam_principal(parts: &Parts) -> Option<String> {
    let context = parts.extensions.get::<RequestContext>()?;
    let non_empty = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    match context {
        RequestContext::ApiGatewayV2(ctx) => {
            let iam = ctx.authorizer.as_ref()?.iam.as_ref()?;
            non_empty(&iam.user_arn)
                .or_else(|| non_empty(&iam.caller_id))
                .or_else(|| non_empty(&iam.account_id).map(|a| format!("account:{a}")))
        }
        RequestContext::ApiGatewayV1(ctx) => {
            let identity = &ctx.identity;
            non_empty(&identity.user_arn)
                .or_else(|| non_empty(&identity.caller))
                .or_else(|| non_empty(&identity.account_id).map(|a| format!("account:{a}")))
        }
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = Sha256::digest(bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_slice());
    out
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(key: Option<&str>) -> Parts {
        let mut builder = Request::builder().uri("/jobs/x");
        if let Some(key) = key {
            builder = builder.header(API_KEY_HEADER, key);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn api_keys_are_checked_by_hash_and_named() {
        let keys = BTreeMap::from([
            ("alice".to_owned(), to_hex(&sha256(b"secret-a"))),
            ("bob".to_owned(), to_hex(&sha256(b"secret-b"))),
        ]);
        let auth = AuthSettings::api_keys(&keys).unwrap();
        assert_eq!(
            auth.authenticate(&parts(Some("secret-b"))).unwrap(),
            Caller(Some("key:bob".into()))
        );
        assert!(matches!(
            auth.authenticate(&parts(Some("secret-c"))),
            Err(ApiError::Unauthorized(_))
        ));
        assert!(matches!(
            auth.authenticate(&parts(None)),
            Err(ApiError::Unauthorized(_))
        ));
    }

    #[test]
    fn bad_hashes_are_refused_at_start_up() {
        let keys = BTreeMap::from([("a".to_owned(), "zz".to_owned())]);
        assert_eq!(
            AuthSettings::api_keys(&keys).unwrap_err(),
            AuthConfigError::BadHash("a".into())
        );
        assert_eq!(
            AuthSettings::api_keys(&BTreeMap::new()).unwrap_err(),
            AuthConfigError::NoKeys
        );
    }

    #[test]
    fn iam_mode_without_a_request_context_is_unauthorized() {
        assert!(matches!(
            AuthSettings::iam().authenticate(&parts(None)),
            Err(ApiError::Unauthorized(_))
        ));
        assert_eq!(
            AuthSettings::none().authenticate(&parts(None)).unwrap(),
            Caller(None)
        );
    }

    #[test]
    fn hex_round_trips() {
        let hash = sha256(b"x");
        assert_eq!(decode_hex32(&to_hex(&hash)), Some(hash));
        assert_eq!(to_hex(&[0, 255]), "00ff");
    }
}
