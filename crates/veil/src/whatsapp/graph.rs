//! The Graph API client: send, upload media, resolve and download media.
//!
//! Every outcome of a send is classified once, here: accepted (with the wamid), retryable (429,
//! 5xx and the retryable codes of Meta's table), rejected (any other code) or ambiguous (the
//! request may have reached Meta but no answer came back). Media is downloaded only from the
//! Graph API host or Meta's CDN host; redirects are not followed. Never logs tokens or bodies.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// Meta codes after which the same request may succeed later.
const RETRYABLE_CODES: [i64; 10] = [
    1, 2, 4, 613, 80_007, 130_429, 131_000, 131_016, 131_056, 131_057,
];

/// Hosts media may be downloaded from besides the Graph API host (Meta's CDN for media URLs).
const MEDIA_HOSTS: [&str; 1] = ["lookaside.fbsbx.com"];

/// What happened to one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Accepted {
        wamid: String,
    },
    Retryable {
        code: Option<i64>,
    },
    Rejected {
        code: i64,
        title: String,
    },
    /// The request may have been accepted; only a status webhook can tell.
    Ambiguous,
}

/// Media metadata from `GET /{media-id}`.
#[derive(Debug, Clone)]
pub struct MediaInfo {
    pub url: String,
    pub mime: Option<String>,
    pub sha256: Option<String>,
    pub size: Option<u64>,
}

/// Why a media call failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    #[error("media id no longer exists at Meta")]
    Gone,
    #[error("temporary failure: {0}")]
    Retryable(String),
    #[error("media refused: {0}")]
    Fatal(String),
}

/// A Graph API client for one business number.
#[derive(Debug, Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base: String,
    /// The Graph API's origin (scheme, host, port), the one place besides Meta's CDN that media
    /// may come from.
    origin: Option<reqwest::Url>,
    token: SecretString,
    phone_number_id: String,
}

impl GraphClient {
    /// `base` includes the version, e.g. `https://graph.facebook.com/v23.0`.
    pub fn new(
        base: &str,
        token: SecretString,
        phone_number_id: &str,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let origin = reqwest::Url::parse(base).ok();
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            origin,
            token,
            phone_number_id: phone_number_id.to_owned(),
        })
    }

    /// Sends one message request body (`messaging_product`, `to`, `type`, …).
    pub async fn send(&self, body: &Value) -> SendOutcome {
        let url = format!("{}/{}/messages", self.base, self.phone_number_id);
        let response = self
            .http
            .post(url)
            .bearer_auth(self.token.expose_secret())
            .json(body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            // Never reached Meta: safe to try again.
            Err(err) if err.is_connect() || err.is_builder() => {
                return SendOutcome::Retryable { code: None };
            }
            Err(_) => return SendOutcome::Ambiguous,
        };
        let status = response.status();
        let Ok(bytes) = response.bytes().await else {
            return SendOutcome::Ambiguous;
        };
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            let wamid = json
                .as_ref()
                .and_then(|j| j.pointer("/messages/0/id"))
                .and_then(Value::as_str);
            return match wamid {
                Some(wamid) => SendOutcome::Accepted {
                    wamid: wamid.to_owned(),
                },
                None => SendOutcome::Ambiguous,
            };
        }
        classify_error(status.as_u16(), json.as_ref())
    }

    /// Uploads media and returns Meta's media id.
    pub async fn upload_media(
        &self,
        bytes: Vec<u8>,
        mime: &str,
        filename: &str,
    ) -> Result<String, MediaError> {
        let url = format!("{}/{}/media", self.base, self.phone_number_id);
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_owned())
            .mime_str(mime)
            .map_err(|_| MediaError::Fatal("invalid MIME type".into()))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime.to_owned())
            .part("file", part);
        let response = self
            .http
            .post(url)
            .bearer_auth(self.token.expose_secret())
            .multipart(form)
            .send()
            .await;
        let json = self.json_or_error(response).await?;
        json.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| MediaError::Fatal("no media id in response".into()))
    }

    /// Resolves a media id to its short-lived download URL.
    pub async fn media_info(&self, media_id: &str) -> Result<MediaInfo, MediaError> {
        if media_id.is_empty()
            || !media_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(MediaError::Gone);
        }
        let url = format!(
            "{}/{media_id}?phone_number_id={}",
            self.base, self.phone_number_id
        );
        let response = self
            .http
            .get(url)
            .bearer_auth(self.token.expose_secret())
            .send()
            .await;
        let json = self.json_or_error(response).await?;
        Ok(MediaInfo {
            url: json
                .get("url")
                .and_then(Value::as_str)
                .ok_or_else(|| MediaError::Fatal("no url".into()))?
                .to_owned(),
            mime: json
                .get("mime_type")
                .and_then(Value::as_str)
                .map(str::to_owned),
            sha256: json
                .get("sha256")
                .and_then(Value::as_str)
                .map(str::to_owned),
            size: json.get("file_size").and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            }),
        })
    }

    /// Downloads media bytes from a URL Meta gave, refusing any other host (SSRF) and anything
    /// larger than `max_bytes`.
    pub async fn download(&self, url: &str, max_bytes: usize) -> Result<Vec<u8>, MediaError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| MediaError::Fatal("media url is not a URL".into()))?;
        if !self.may_download_from(&parsed) {
            return Err(MediaError::Fatal("media url is not Meta's".into()));
        }
        let mut response = self
            .http
            .get(parsed)
            .bearer_auth(self.token.expose_secret())
            .send()
            .await
            .map_err(|e| MediaError::Retryable(e.without_url().to_string()))?;
        let status = response.status();
        if status.as_u16() == 404 || status.as_u16() == 410 {
            return Err(MediaError::Gone);
        }
        if !status.is_success() {
            return Err(MediaError::Retryable(format!("HTTP {status}")));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| MediaError::Retryable(e.without_url().to_string()))?
        {
            if bytes.len() + chunk.len() > max_bytes {
                return Err(MediaError::Fatal("media larger than the limit".into()));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Media comes over `https` on the default port from Meta's CDN or the Graph API host, or
    /// from the configured Graph API origin itself (which the configuration allows to be plain
    /// `http` only on the loopback, for the simulator). No credentials in the URL.
    fn may_download_from(&self, url: &reqwest::Url) -> bool {
        if !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        let Some(origin) = &self.origin else {
            return false;
        };
        let same_origin = url.scheme() == origin.scheme()
            && url.host_str() == origin.host_str()
            && url.port_or_known_default() == origin.port_or_known_default();
        let host = url.host_str().unwrap_or_default();
        let meta_host = Some(host) == origin.host_str() || MEDIA_HOSTS.contains(&host);
        same_origin || (url.scheme() == "https" && url.port().is_none() && meta_host)
    }

    async fn json_or_error(
        &self,
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<Value, MediaError> {
        let response = response.map_err(|e| MediaError::Retryable(e.without_url().to_string()))?;
        let status = response.status();
        let json: Option<Value> = response.json().await.ok();
        if status.is_success() {
            return json.ok_or_else(|| MediaError::Retryable("unreadable response".into()));
        }
        match classify_error(status.as_u16(), json.as_ref()) {
            SendOutcome::Retryable { code } => Err(MediaError::Retryable(format!("code {code:?}"))),
            SendOutcome::Rejected { code: 100, .. } => Err(MediaError::Gone),
            SendOutcome::Rejected { code, title } => {
                Err(MediaError::Fatal(format!("{code} {title}")))
            }
            SendOutcome::Accepted { .. } | SendOutcome::Ambiguous => {
                Err(MediaError::Retryable("unexpected".into()))
            }
        }
    }
}

/// Classifies a Graph error response by Meta's code (falling back to the HTTP status).
pub fn classify_error(http_status: u16, body: Option<&Value>) -> SendOutcome {
    let error = body.and_then(|b| b.get("error"));
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_i64);
    let title = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("error")
        .chars()
        .take(200)
        .collect::<String>();
    match code {
        Some(code) if RETRYABLE_CODES.contains(&code) => {
            SendOutcome::Retryable { code: Some(code) }
        }
        Some(code) => SendOutcome::Rejected { code, title },
        None if http_status == 429 || http_status >= 500 => SendOutcome::Retryable { code: None },
        None => SendOutcome::Rejected {
            code: i64::from(http_status),
            title,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn media_comes_over_https_on_the_default_port_from_meta_or_the_graph_origin() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = |base: &str| {
            GraphClient::new(base, SecretString::from("t"), "1", Duration::from_secs(1)).unwrap()
        };
        let meta = client("https://graph.facebook.com/v23.0");
        let ok =
            |c: &GraphClient, url: &str| c.may_download_from(&reqwest::Url::parse(url).unwrap());
        assert!(ok(
            &meta,
            "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1"
        ));
        assert!(ok(&meta, "https://graph.facebook.com/v23.0/media/1"));
        assert!(!ok(&meta, "http://lookaside.fbsbx.com/x"), "plain http");
        assert!(
            !ok(&meta, "https://lookaside.fbsbx.com:8443/x"),
            "another port"
        );
        assert!(
            !ok(&meta, "https://user:pw@lookaside.fbsbx.com/x"),
            "credentials"
        );
        assert!(!ok(&meta, "https://lookaside.fbsbx.com.evil.example/x"));
        assert!(!ok(&meta, "ftp://lookaside.fbsbx.com/x"));
        // The simulator on the loopback: its own origin only.
        let sim = client("http://127.0.0.1:4010/v23.0");
        assert!(ok(&sim, "http://127.0.0.1:4010/media/1"));
        assert!(!ok(&sim, "http://127.0.0.1:4011/media/1"));
        assert!(!ok(&sim, "http://lookaside.fbsbx.com/x"));
    }

    fn check(status: u16, code: Option<i64>, expected: &SendOutcome) {
        let body = code.map(|c| json!({"error": {"code": c, "message": "(#x) t"}}));
        assert_eq!(
            &classify_error(status, body.as_ref()),
            expected,
            "status {status} code {code:?}"
        );
    }

    #[test]
    fn errors_are_classified_by_metas_code() {
        check(
            429,
            Some(130_429),
            &SendOutcome::Retryable {
                code: Some(130_429),
            },
        );
        check(
            400,
            Some(131_056),
            &SendOutcome::Retryable {
                code: Some(131_056),
            },
        );
        check(
            500,
            Some(131_000),
            &SendOutcome::Retryable {
                code: Some(131_000),
            },
        );
        check(
            400,
            Some(131_026),
            &SendOutcome::Rejected {
                code: 131_026,
                title: "(#x) t".into(),
            },
        );
        check(
            401,
            Some(190),
            &SendOutcome::Rejected {
                code: 190,
                title: "(#x) t".into(),
            },
        );
        check(503, None, &SendOutcome::Retryable { code: None });
        check(
            400,
            None,
            &SendOutcome::Rejected {
                code: 400,
                title: "error".into(),
            },
        );
    }

    #[test]
    fn fixture_error_bodies_classify() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/whatsapp/graph/responses");
        let body: Value = serde_json::from_str(
            &std::fs::read_to_string(
                dir.join("error_190_cannot_parse_token--whatsapp-api-js-test.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let inner = body.get("body").cloned().unwrap_or(body);
        assert!(matches!(
            classify_error(401, Some(&inner)),
            SendOutcome::Rejected { code: 190, .. }
        ));
    }
}
