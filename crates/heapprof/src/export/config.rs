//! The exporter's settings: where to push, with which labels and credentials,
//! how often, and how hard to try. Checked once, when the exporter is built.

use std::time::Duration;

use super::ExportError;

/// Where profiles go.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// Grafana Pyroscope: `POST {url}/ingest?name=app{labels}&from=&until=`.
    Pyroscope {
        /// The server's base URL, such as `http://localhost:4040`.
        url: String,
        /// How the profile travels in the request body.
        body: PyroscopeBody,
    },
    /// Parca: `POST {url}/api/profiles/writeraw` (`WriteRaw` through its gRPC gateway).
    Parca {
        /// The server's base URL, such as `http://localhost:7070`.
        url: String,
    },
}

/// How a profile is sent to Pyroscope's `/ingest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PyroscopeBody {
    /// The gzipped pprof as the whole body, with `format=pprof` in the query (the default).
    #[default]
    Raw,
    /// `multipart/form-data` with the profile in a `profile` field, as Pyroscope's Go client sends it.
    Multipart,
}

/// Credentials sent with every request.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// No `Authorization` header (the default).
    #[default]
    None,
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    // Never print secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { user, .. } => write!(f, "Basic {{ user: {user:?}, password: \"***\" }}"),
            Auth::Bearer(_) => f.write_str("Bearer(\"***\")"),
        }
    }
}

/// Everything the exporter needs, as given to [`ExporterBuilder`](super::ExporterBuilder).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub target: Target,
    pub app: String,
    /// Extra labels in the order given; defaults are added by [`Config::labels`].
    pub labels: Vec<(String, String)>,
    pub process_labels: bool,
    pub version: Option<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub org_id: Option<String>,
    pub auth: Auth,
    pub queue_bound: usize,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub ca_pem: Option<Vec<u8>>,
}

impl Config {
    pub fn new(target: Target) -> Config {
        Config {
            target,
            app: String::new(),
            labels: Vec::new(),
            process_labels: true,
            version: None,
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            org_id: None,
            auth: Auth::None,
            queue_bound: 8,
            max_attempts: 4,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            ca_pem: None,
        }
    }

    /// The labels sent with each profile, sorted by name: `service_name` (the
    /// application name), `host` and `pid` (unless turned off), `version` if set,
    /// then the user's labels, which replace defaults of the same name.
    pub fn labels(&self) -> Vec<(String, String)> {
        let mut all = std::collections::BTreeMap::new();
        all.insert("service_name".to_string(), self.app.clone());
        if self.process_labels {
            all.insert("host".to_string(), hostname());
            all.insert("pid".to_string(), std::process::id().to_string());
        }
        if let Some(v) = &self.version {
            all.insert("version".to_string(), v.clone());
        }
        for (k, v) in &self.labels {
            all.insert(k.clone(), v.clone());
        }
        all.into_iter().filter(|(_, v)| !v.is_empty()).collect()
    }

    /// Checks what cannot be checked when each setter is called.
    pub fn validate(&self) -> Result<(), ExportError> {
        let url = match &self.target {
            Target::Pyroscope { url, .. } | Target::Parca { url } => url,
        };
        let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
        if rest.is_none_or(|r| r.is_empty() || r.contains(['?', '#', ' '])) {
            return Err(ExportError::Url(url.clone()));
        }
        check_value("app", &self.app)?;
        if self.app.is_empty() {
            return Err(ExportError::LabelValue { name: "app".into(), value: String::new() });
        }
        for (k, v) in self.labels() {
            check_name(&k)?;
            check_value(&k, &v)?;
        }
        // Sent as header values: a line break would end the header (ureq refuses it later,
        // with a message that does not say which setting).
        if self.org_id.as_deref().is_some_and(has_control) {
            return Err(ExportError::Header("org id"));
        }
        if let Auth::Bearer(token) = &self.auth
            && has_control(token)
        {
            return Err(ExportError::Header("bearer token"));
        }
        if self.queue_bound == 0 {
            return Err(ExportError::Setting("the queue bound must be at least 1"));
        }
        if self.max_attempts == 0 {
            return Err(ExportError::Setting("max attempts must be at least 1"));
        }
        if self.interval.is_zero() || self.timeout.is_zero() {
            return Err(ExportError::Setting("interval and timeout must be positive"));
        }
        Ok(())
    }

    /// The base URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        match &self.target {
            Target::Pyroscope { url, .. } | Target::Parca { url } => url.trim_end_matches('/'),
        }
    }
}

/// Label names as Prometheus, Pyroscope and Parca accept them: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn check_name(name: &str) -> Result<(), ExportError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok { Ok(()) } else { Err(ExportError::LabelName(name.to_string())) }
}

fn has_control(value: &str) -> bool {
    value.chars().any(char::is_control)
}

/// Values go inside Pyroscope's `name{k=v,...}`: no braces, commas, `=`,
/// quotes or control characters.
fn check_value(name: &str, value: &str) -> Result<(), ExportError> {
    if value.chars().any(|c| c.is_control() || "{},=\"".contains(c)) {
        return Err(ExportError::LabelValue { name: name.to_string(), value: value.to_string() });
    }
    Ok(())
}

/// This machine's name, or `unknown`.
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for its whole length, which is what we pass.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(name) if rc == 0 && !name.is_empty() => name.to_string(),
        _ => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_labels_replace_defaults_and_come_out_sorted() {
        let mut c = Config::new(Target::Parca { url: "http://x".into() });
        c.app = "svc".into();
        c.process_labels = false;
        c.labels = vec![("zone".into(), "a".into()), ("service_name".into(), "other".into())];
        assert_eq!(c.labels(), vec![("service_name".into(), "other".into()), ("zone".into(), "a".into())]);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut c = Config::new(Target::Parca { url: "ftp://x".into() });
        c.app = "svc".into();
        assert!(matches!(c.validate(), Err(ExportError::Url(_))));
        c.target = Target::Parca { url: "http://x".into() };
        c.labels = vec![("9x".into(), "a".into())];
        assert!(matches!(c.validate(), Err(ExportError::LabelName(_))));
        c.labels = vec![("x".into(), "a,b".into())];
        assert!(matches!(c.validate(), Err(ExportError::LabelValue { .. })));
        c.labels.clear();
        c.org_id = Some("tenant\r\nX-Injected: 1".into());
        assert!(matches!(c.validate(), Err(ExportError::Header("org id"))));
        c.org_id = Some("tenant-1".into());
        c.auth = Auth::Bearer("t0ken\n".into());
        assert!(matches!(c.validate(), Err(ExportError::Header("bearer token"))));
        c.auth = Auth::Bearer("t0ken".into());
        assert!(c.validate().is_ok());
    }
}
