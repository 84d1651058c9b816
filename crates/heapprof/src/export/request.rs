//! One push: the request each server documents, sent with a blocking client
//! that has a timeout per request and verifies TLS certificates.

use std::time::Duration;

use base64::Engine as _;

use super::ExportError;
use super::config::{Auth, Config, PyroscopeBody, Target};

/// Most of an error response kept for the error message.
const MAX_ERROR_BODY: u64 = 4096;

/// One encoded profile waiting to be sent.
#[derive(Clone, Debug)]
pub(crate) struct Payload {
    /// A gzipped pprof profile.
    pub gz: Vec<u8>,
    /// Start and end of the interval it covers, nanoseconds since the Unix epoch.
    pub from_nanos: u64,
    pub until_nanos: u64,
}

/// A configured client for one target.
#[derive(Debug)]
pub(crate) struct Sender {
    agent: ureq::Agent,
    config: Config,
    labels: Vec<(String, String)>,
}

impl Sender {
    pub fn new(config: Config) -> Result<Sender, ExportError> {
        config.validate()?;
        let mut builder = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("heapprof/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.ca_pem {
            builder = builder.tls_config(tls_with_roots(pem)?);
        }
        let labels = config.labels();
        Ok(Sender { agent: builder.build().into(), config, labels })
    }

    /// Sends one profile; `Ok` on a 2xx answer.
    pub fn send(&self, payload: &Payload) -> Result<(), ExportError> {
        let (url, content_type, body) = match &self.config.target {
            Target::Pyroscope { body, .. } => self.pyroscope(payload, *body),
            Target::Parca { .. } => self.parca(payload),
        };
        let mut request = self.agent.post(&url).header("Content-Type", content_type);
        if let Some(org) = &self.config.org_id {
            request = request.header("X-Scope-OrgID", org);
        }
        match &self.config.auth {
            Auth::None => {}
            Auth::Basic { user, password } => {
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                request = request.header("Authorization", format!("Basic {token}"));
            }
            Auth::Bearer(token) => request = request.header("Authorization", format!("Bearer {token}")),
        }
        // Errors name the endpoint, not the whole query.
        let endpoint = url.split('?').next().unwrap_or(&url).to_string();
        let transport =
            |e: ureq::Error| ExportError::Transport { url: endpoint.clone(), message: e.to_string() };
        let mut response = request.send(&body[..]).map_err(transport)?;
        let status = response.status().as_u16();
        // Only the delay-seconds form; an HTTP date falls back to our own backoff.
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Read the answer so the connection can be reused, and keep some of it for errors.
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ERROR_BODY)
            .read_to_vec()
            .map(|b| String::from_utf8_lossy(&b).split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(ExportError::Status {
                url: endpoint,
                status,
                body: text.chars().take(200).collect(),
                retry_after,
            })
        }
    }

    /// The request timeout (also the bound on one attempt while stopping).
    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    fn pyroscope(&self, payload: &Payload, body: PyroscopeBody) -> (String, String, Vec<u8>) {
        let labels: Vec<String> = self.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let name = format!("{}{{{}}}", self.config.app, labels.join(","));
        let from = payload.from_nanos / 1_000_000_000;
        let until = (payload.until_nanos / 1_000_000_000).max(from);
        let mut url = format!(
            "{}/ingest?name={}&from={from}&until={until}&spyName=heapprof",
            self.config.base_url(),
            percent_encode(&name)
        );
        match body {
            PyroscopeBody::Raw => {
                url.push_str("&format=pprof");
                (url, "application/octet-stream".into(), payload.gz.clone())
            }
            PyroscopeBody::Multipart => {
                let boundary = format!("heapprof-{:016x}", payload.until_nanos ^ 0x5eed_cafe_f00d_d00d);
                let mut out = Vec::with_capacity(payload.gz.len() + 256);
                out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                out.extend_from_slice(
                    b"Content-Disposition: form-data; name=\"profile\"; filename=\"profile.pprof\"\r\n",
                );
                out.extend_from_slice(b"Content-Type: application/octet-stream\r\n\r\n");
                out.extend_from_slice(&payload.gz);
                out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
                (url, format!("multipart/form-data; boundary={boundary}"), out)
            }
        }
    }

    /// Parca's `WriteRawRequest` as the gateway's JSON: one series with the
    /// whole profile (Parca splits it per sample type itself).
    fn parca(&self, payload: &Payload) -> (String, String, Vec<u8>) {
        let mut labels = vec![serde_json::json!({"name": "__name__", "value": "memory"})];
        labels.extend(self.labels.iter().map(|(k, v)| serde_json::json!({"name": k, "value": v})));
        let body = serde_json::json!({
            "series": [{
                "labels": {"labels": labels},
                "samples": [{"raw_profile": base64::engine::general_purpose::STANDARD.encode(&payload.gz)}],
            }],
            "normalized": false,
        });
        let url = format!("{}/api/profiles/writeraw", self.config.base_url());
        (url, "application/json".into(), body.to_string().into_bytes())
    }
}

/// A TLS configuration that trusts only the certificates in `pem` (as `curl --cacert`).
fn tls_with_roots(pem: &[u8]) -> Result<ureq::tls::TlsConfig, ExportError> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(ExportError::CaCert(e.to_string())),
        }
    }
    if certs.is_empty() {
        return Err(ExportError::CaCert("no CERTIFICATE block in the PEM data".into()));
    }
    Ok(TlsConfig::builder().root_certs(RootCerts::new_with_certs(&certs)).build())
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_unreserved_only() {
        assert_eq!(percent_encode("app{a=b,c=d}"), "app%7Ba%3Db%2Cc%3Dd%7D");
    }

    #[test]
    fn a_pem_without_certificates_is_refused() {
        assert!(matches!(tls_with_roots(b"nothing here"), Err(ExportError::CaCert(_))));
    }
}
