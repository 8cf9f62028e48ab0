//! The real store: aws-sdk-s3 against the S3 endpoint.

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::DateTimeFormat;
use hyper::body::Bytes;

use super::{CONNECT_TIMEOUT, OPERATION_TIMEOUT, Object, ObjectStore, Precondition, S3Settings, S3StateError};
use crate::backend::S3Location;

/// The real store: aws-sdk-s3 with a custom endpoint, path-style addressing and short timeouts.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    location: S3Location,
}

impl S3Store {
    /// A client for `settings` (no request is made).
    pub fn new(settings: &S3Settings) -> Self {
        let creds = Credentials::new(&settings.access_key, &settings.secret_key, None, None, "gf-environment");
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(https)
            .endpoint_url(&settings.location.endpoint)
            .region(Region::new(settings.location.region.clone()))
            .force_path_style(true)
            .credentials_provider(creds)
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            // As tofu's `skip_s3_checksum = true`: no aws-chunked trailing checksums on writes,
            // which S3-compatible stores (RustFS, older MinIO) may not speak.
            .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(OPERATION_TIMEOUT / 2)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .build();
        Self { client: aws_sdk_s3::Client::from_conf(config), location: settings.location.clone() }
    }

    fn precondition_failed(&self, key: &str, condition: String) -> S3StateError {
        S3StateError::PreconditionFailed {
            endpoint: self.location.endpoint.clone(),
            bucket: self.location.bucket.clone(),
            key: key.to_string(),
            condition,
        }
    }

    fn request_error(&self, key: &str, reason: String) -> S3StateError {
        S3StateError::Request {
            endpoint: self.location.endpoint.clone(),
            bucket: self.location.bucket.clone(),
            key: key.to_string(),
            reason,
        }
    }
}

fn reason_of<E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static>(
    e: &aws_sdk_s3::error::SdkError<E>,
) -> String {
    use aws_sdk_s3::error::SdkError;
    match e {
        SdkError::TimeoutError(_) => {
            format!("no answer within {}s", OPERATION_TIMEOUT.as_secs())
        }
        SdkError::DispatchFailure(d) => {
            let what = if d.is_timeout() { "timed out" } else { "cannot connect" };
            format!("{what}: {}", crate::ui::error_chain(e))
        }
        SdkError::ServiceError(s) => {
            let err = s.err();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) => format!("{c}: {m} (HTTP {})", s.raw().status().as_u16()),
                (Some(c), None) => format!("{c} (HTTP {})", s.raw().status().as_u16()),
                _ => format!("HTTP {}", s.raw().status().as_u16()),
            }
        }
        _ => crate::ui::error_chain(e),
    }
}

impl ObjectStore for S3Store {
    fn location(&self) -> &S3Location {
        &self.location
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, S3StateError> {
        let out = match self.client.get_object().bucket(&self.location.bucket).key(key).send().await {
            Ok(o) => o,
            Err(e) => {
                if e.as_service_error().is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) {
                    return Ok(None);
                }
                return Err(self.request_error(key, reason_of(&e)));
            }
        };
        let etag = out.e_tag().map(|t| t.trim_matches('"').to_string());
        let last_modified = out.last_modified().and_then(|d| d.fmt(DateTimeFormat::DateTime).ok());
        let body = out.body.collect().await.map_err(|e| self.request_error(key, e.to_string()))?;
        // One contiguous copy of the segments, moved (not copied again) into the `Vec`.
        let bytes = Vec::from(body.into_bytes());
        Ok(Some(Object { bytes, etag, last_modified }))
    }

    async fn head_bucket(&self) -> Result<(), S3StateError> {
        self.client
            .head_bucket()
            .bucket(&self.location.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.request_error("", reason_of(&e)))
    }

    async fn delete(&self, key: &str) -> Result<(), S3StateError> {
        self.client
            .delete_object()
            .bucket(&self.location.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.request_error(key, reason_of(&e)))
    }

    async fn put(&self, key: &str, bytes: Bytes, condition: &Precondition) -> Result<Option<String>, S3StateError> {
        let req = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(key)
            .content_type("application/json")
            .body(aws_sdk_s3::primitives::ByteStream::from(bytes));
        let req = match condition {
            Precondition::Absent => req.if_none_match("*"),
            Precondition::Etag(etag) => req.if_match(format!("\"{etag}\"")),
        };
        match req.send().await {
            Ok(out) => Ok(out.e_tag().map(|t| t.trim_matches('"').to_string())),
            Err(e) if status_of(&e) == Some(412) => Err(self.precondition_failed(key, condition.header())),
            Err(e) => Err(self.request_error(key, reason_of(&e))),
        }
    }
}

/// The HTTP status of a service error (412 for a failed condition), `None` without an answer.
fn status_of<E>(e: &aws_sdk_s3::error::SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}
