//! SigV4 signing of API calls, for a bedrock-lb API deployed behind API Gateway in IAM mode.
//!
//! API Gateway checks the signature (service `execute-api`, the API's region) and hands the
//! caller's IAM principal to the Lambda, which stores it as the job's owner. The CLI signs with
//! credentials from the standard AWS chain (environment, profile, SSO, instance metadata), the
//! same ones `aws` would use. [`sign`] is a pure function of its inputs so that it can be
//! checked against a known-good signature.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use tokio::sync::Mutex;

/// The service name API Gateway's IAM authorization checks.
pub const EXECUTE_API: &str = "execute-api";

/// Credentials are refreshed when they expire within this margin.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("no AWS credentials: {0}")]
    Credentials(String),
    #[error("no AWS region for SigV4: give --region, set AWS_REGION, or use an execute-api URL")]
    NoRegion,
    #[error("cannot sign the request: {0}")]
    Sign(String),
}

/// Signs requests with SigV4 for one region, with credentials from a provider (cached until
/// shortly before they expire, so a long `batch` run does not ask the chain on every call).
#[derive(Debug)]
pub struct SigV4Signer {
    provider: SharedCredentialsProvider,
    region: String,
    cached: Mutex<Option<Credentials>>,
}

impl SigV4Signer {
    /// A signer for `region` using `provider`.
    pub fn new(provider: SharedCredentialsProvider, region: impl Into<String>) -> Self {
        Self {
            provider,
            region: region.into(),
            cached: Mutex::new(None),
        }
    }

    /// A signer with the standard AWS credential chain, for `region`, else the region in an
    /// execute-api `url`'s host, else the chain's region (`AWS_REGION`, profile).
    pub async fn from_environment(url: &str, region: Option<&str>) -> Result<Self, SigningError> {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let region = region
            .map(str::to_owned)
            .or_else(|| region_from_url(url))
            .or_else(|| sdk.region().map(ToString::to_string))
            .ok_or(SigningError::NoRegion)?;
        let provider = sdk
            .credentials_provider()
            .ok_or_else(|| SigningError::Credentials("no credential provider".into()))?;
        Ok(Self::new(provider, region))
    }

    /// The region signatures are made for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The headers to add to a request (`authorization`, `x-amz-date`, and
    /// `x-amz-security-token` for temporary credentials). `headers` are the request's own
    /// headers that must be signed (e.g. `content-type`); they must be sent unchanged.
    pub async fn headers(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, SigningError> {
        let credentials = self.credentials().await?;
        sign(
            &credentials,
            &self.region,
            method,
            url,
            headers,
            body,
            SystemTime::now(),
        )
    }

    async fn credentials(&self) -> Result<Credentials, SigningError> {
        let mut cached = self.cached.lock().await;
        if let Some(credentials) = cached.as_ref() {
            let fresh = credentials
                .expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + REFRESH_MARGIN);
            if fresh {
                return Ok(credentials.clone());
            }
        }
        let credentials = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| SigningError::Credentials(e.to_string()))?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }
}

/// The SigV4 headers for one request to `execute-api` in `region` at `time`.
pub fn sign(
    credentials: &Credentials,
    region: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    time: SystemTime,
) -> Result<Vec<(String, String)>, SigningError> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(EXECUTE_API)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SigningError::Sign(e.to_string()))?
        .into();
    let request = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| SigningError::Sign(e.to_string()))?;
    let (instructions, _signature) = aws_sigv4::http_request::sign(request, &params)
        .map_err(|e| SigningError::Sign(e.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

/// Whether calls to `url` should be signed without being asked: its host is an AWS endpoint.
pub fn is_aws_url(url: &str) -> bool {
    host_of(url).is_some_and(|host| host.ends_with(".amazonaws.com"))
}

/// The region of an API Gateway URL such as `https://abc123.execute-api.eu-west-1.amazonaws.com`.
pub fn region_from_url(url: &str) -> Option<String> {
    let host = host_of(url)?;
    let labels: Vec<&str> = host.split('.').collect();
    let at = labels.iter().position(|label| *label == EXECUTE_API)?;
    labels
        .get(at + 1)
        .filter(|region| !region.is_empty() && **region != "amazonaws")
        .map(|region| (*region).to_owned())
}

fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    Some(host.split(':').next().unwrap_or(host)).filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed_credentials(token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_owned),
            None,
            "test",
        )
    }

    /// 2026-01-02T03:04:05Z.
    fn fixed_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_323_045)
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The headers of a fixed POST to an execute-api URL, signed without a session token.
    fn signed_post() -> Vec<(String, String)> {
        sign(
            &fixed_credentials(None),
            "us-east-1",
            "POST",
            "https://abc123.execute-api.us-east-1.amazonaws.com/batch",
            &[("content-type", "application/json")],
            br#"{"requests":["hi"]}"#,
            fixed_time(),
        )
        .unwrap()
    }

    #[test]
    fn regions_come_from_execute_api_hosts_only() {
        let url = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/jobs/x";
        assert_eq!(region_from_url(url).as_deref(), Some("eu-west-1"));
        assert!(is_aws_url(url));
        assert_eq!(region_from_url("http://127.0.0.1:8080"), None);
        assert!(!is_aws_url("http://127.0.0.1:8080/invoke"));
        assert!(!is_aws_url("https://amazonaws.com.evil.example/"));
        assert_eq!(
            region_from_url("https://execute-api.amazonaws.com/"),
            None,
            "no region label"
        );
    }

    #[test]
    fn the_authorization_header_has_the_scope_and_signed_headers() {
        let headers = signed_post();
        let authorization = header(&headers, "authorization").unwrap();
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/us-east-1/execute-api/aws4_request, "
            ),
            "{authorization}"
        );
        assert!(
            authorization.contains("SignedHeaders=content-type;host;x-amz-date, "),
            "{authorization}"
        );
        assert_eq!(header(&headers, "x-amz-date"), Some("20260102T030405Z"));
        assert_eq!(header(&headers, "x-amz-security-token"), None);
    }

    /// The expected signatures were computed by botocore 1.x (`SigV4Auth(credentials,
    /// "execute-api", region).add_auth(AWSRequest(...))` with its clock fixed at 2026-01-02
    /// 03:04:05 UTC), the signer the AWS CLI uses; see the report of the CLI change for the script.
    #[test]
    fn signatures_match_botocore() {
        let post = signed_post();
        assert_eq!(
            header(&post, "authorization")
                .and_then(|a| a.rsplit_once("Signature="))
                .map(|(_, s)| s),
            Some(BOTOCORE_POST_SIGNATURE)
        );
        let get = sign(
            &fixed_credentials(Some("SESSIONTOKEN")),
            "eu-west-1",
            "GET",
            "https://abc123.execute-api.eu-west-1.amazonaws.com/jobs/01J:x?wait=20",
            &[],
            b"",
            fixed_time(),
        )
        .unwrap();
        assert_eq!(header(&get, "x-amz-security-token"), Some("SESSIONTOKEN"));
        let authorization = header(&get, "authorization").unwrap();
        assert!(
            authorization.contains("SignedHeaders=host;x-amz-date;x-amz-security-token, "),
            "{authorization}"
        );
        assert_eq!(
            authorization.rsplit_once("Signature=").map(|(_, s)| s),
            Some(BOTOCORE_GET_SIGNATURE)
        );
    }

    const BOTOCORE_POST_SIGNATURE: &str =
        "35b42572eee29de0f292e89753fb4a56173e2082cb8714a6f81ccab54eb67d11";
    const BOTOCORE_GET_SIGNATURE: &str =
        "a57de82310e484bb9b1ac0b9b8b8da1a4bb7d9ddd5ee3cc3118186c949837b16";
}
