//! Which region a call is addressed to.
//!
//! One simulator serves every region on one port, so the region cannot come from the host name
//! as it does on AWS. The SDK signs each request for its region, and the SigV4 credential scope
//! in the `Authorization` header (`Credential=AKID/DATE/REGION/bedrock/aws4_request`) names it.
//! A request without a signature may still name the region the AWS way, in a `Host` of the form
//! `bedrock-runtime.{region}.amazonaws.com`.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, HOST};

use crate::error::BedrockError;

/// The region of a request, from its SigV4 credential scope, else from its `Host`.
pub fn region_from_headers(headers: &HeaderMap) -> Result<String, BedrockError> {
    let from_auth = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(region_from_authorization);
    let from_host = || {
        headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .and_then(region_from_host)
    };
    from_auth
        .or_else(from_host)
        .map(str::to_owned)
        .ok_or_else(|| {
            BedrockError::validation(
                "The region could not be determined: sign the request with SigV4 for a region \
             (Credential=AKID/DATE/REGION/bedrock/aws4_request) or send \
             Host: bedrock-runtime.REGION.amazonaws.com.",
            )
        })
}

/// The region in a SigV4 `Authorization` header's credential scope.
pub fn region_from_authorization(authorization: &str) -> Option<&str> {
    let (_, after) = authorization.split_once("Credential=")?;
    let credential = after.split([',', ' ']).next()?;
    let mut scope = credential.split('/');
    let (_key, _date, region) = (scope.next()?, scope.next()?, scope.next()?);
    is_region_name(region).then_some(region)
}

/// The region in a `Host` of the form `bedrock-runtime.{region}.amazonaws.com[:port]`.
pub fn region_from_host(host: &str) -> Option<&str> {
    let name = host.rsplit_once(':').map_or(host, |(name, _port)| name);
    let region = name
        .strip_prefix("bedrock-runtime.")?
        .strip_suffix(".amazonaws.com")?;
    is_region_name(region).then_some(region)
}

/// Region names are lowercase letters, digits and dashes, e.g. `us-east-1`.
fn is_region_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const SIGNED: &str = "AWS4-HMAC-SHA256 Credential=test/20261101/eu-west-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=abc123";

    #[test]
    fn reads_the_credential_scope() {
        assert_eq!(region_from_authorization(SIGNED), Some("eu-west-1"));
        assert_eq!(
            region_from_authorization(
                "AWS4-HMAC-SHA256 Credential=A/D/us-east-1/bedrock/aws4_request"
            ),
            Some("us-east-1")
        );
        assert_eq!(region_from_authorization("Bearer token"), None);
        assert_eq!(
            region_from_authorization("AWS4-HMAC-SHA256 Credential=A/D"),
            None
        );
        assert_eq!(
            region_from_authorization(
                "AWS4-HMAC-SHA256 Credential=A/D/US EAST/bedrock/aws4_request"
            ),
            None
        );
    }

    #[test]
    fn reads_a_bedrock_runtime_host() {
        assert_eq!(
            region_from_host("bedrock-runtime.us-west-2.amazonaws.com"),
            Some("us-west-2")
        );
        assert_eq!(
            region_from_host("bedrock-runtime.ap-south-1.amazonaws.com:443"),
            Some("ap-south-1")
        );
        assert_eq!(region_from_host("127.0.0.1:4010"), None);
        assert_eq!(region_from_host("bedrock.us-west-2.amazonaws.com"), None);
    }

    #[test]
    fn the_signature_wins_over_the_host() {
        let mut headers = HeaderMap::new();
        headers.insert(
            HOST,
            HeaderValue::from_static("bedrock-runtime.us-west-2.amazonaws.com"),
        );
        assert_eq!(region_from_headers(&headers).unwrap(), "us-west-2");
        headers.insert(AUTHORIZATION, HeaderValue::from_static(SIGNED));
        assert_eq!(region_from_headers(&headers).unwrap(), "eu-west-1");
    }

    #[test]
    fn no_region_is_a_validation_error() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:4010"));
        let err = region_from_headers(&headers).unwrap_err();
        assert_eq!(err.kind, crate::error::BedrockErrorKind::Validation);
        assert!(
            err.message.contains("region could not be determined"),
            "{}",
            err.message
        );
    }
}
