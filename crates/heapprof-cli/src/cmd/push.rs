//! `heapprof push`: sends saved profiles to a Pyroscope or Parca server, with
//! the same requests as the library's exporter (`heapprof::export`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::ValueEnum;
use heapprof::export::{Auth, ExportError, ExporterBuilder, PyroscopeBody};
use heapprof_profile::trend::ProcessMark;
use heapprof_profile::{Profile, encode_gzip, merge};

use crate::error::bad;
use crate::source;

/// The server's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Grafana Pyroscope: POST /ingest
    Pyroscope,
    /// Parca: POST /api/profiles/writeraw
    Parca,
}

/// Send heap profiles to a Pyroscope or Parca server
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  heapprof push http://localhost:4040 profiles/*.pb.gz --app checkout --label env=staging\n  heapprof push --format parca --delta http://localhost:7070 watch-*.pb.gz --app checkout\n\nA bearer token is read from the environment variable HEAPPROF_PUSH_TOKEN, never from the command line."
)]
pub struct Args {
    /// The server's base URL (http:// or https://)
    #[arg(value_name = "URL")]
    url: String,
    /// Profiles to send, in time order (files from `heapprof watch` or the monitor, or URLs)
    #[arg(value_name = "SOURCE", required = true)]
    sources: Vec<String>,
    /// Application name: Pyroscope's `name` and the `service_name` label
    #[arg(long, value_name = "NAME")]
    app: String,
    /// A label to add to each profile, NAME=VALUE (repeatable)
    #[arg(long = "label", value_name = "NAME=VALUE")]
    labels: Vec<String>,
    /// The server's API
    #[arg(long, value_enum, default_value = "pyroscope")]
    format: Format,
    /// Send alloc_* as the difference from the previous SOURCE, as the exporter does
    /// (for successive snapshots of one process; the first SOURCE is only the base)
    #[arg(long)]
    delta: bool,
    /// Pyroscope: send multipart/form-data (as its Go client does) instead of a raw body
    #[arg(long)]
    multipart: bool,
    /// Tenant, sent as X-Scope-OrgID
    #[arg(long, value_name = "ID")]
    org_id: Option<String>,
    /// For https: trust only the CA certificates in this PEM file
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    /// Seconds allowed per request
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
}

/// Larger is not a certificate bundle.
const MAX_PEM_BYTES: u64 = 1 << 20;

pub fn run(args: &Args) -> Result<()> {
    let mut builder = match args.format {
        Format::Pyroscope => ExporterBuilder::pyroscope(&args.url),
        Format::Parca => ExporterBuilder::parca(&args.url),
    }
    .app(&args.app)
    .process_labels(false)
    .timeout(Duration::from_secs(args.timeout.max(1)));
    for label in &args.labels {
        let (k, v) =
            label.split_once('=').ok_or_else(|| bad("--label", format!("{label:?} is not NAME=VALUE")))?;
        builder = builder.label(k, v);
    }
    if args.multipart {
        builder = builder.pyroscope_body(PyroscopeBody::Multipart);
    }
    if let Some(org) = &args.org_id {
        builder = builder.org_id(org);
    }
    if let Ok(token) = std::env::var("HEAPPROF_PUSH_TOKEN") {
        builder = builder.auth(Auth::Bearer(token));
    }
    if let Some(path) = &args.ca_cert {
        // Checked before reading: a device such as /dev/zero would be read without end.
        let subject = || format!("--ca-cert {}", path.display());
        let meta = std::fs::metadata(path).map_err(|e| bad(subject(), e))?;
        if !meta.is_file() || meta.len() > MAX_PEM_BYTES {
            return Err(bad(subject(), "not a PEM file (a regular file of at most 1 MiB)"));
        }
        let pem = std::fs::read(path).map_err(|e| bad(subject(), e))?;
        builder = builder.ca_cert_pem(pem);
    }
    let pusher = builder.pusher().map_err(|e| {
        let subject = match &e {
            ExportError::LabelName(_) => "--label",
            ExportError::LabelValue { name, .. } if name == "app" => "--app",
            ExportError::LabelValue { .. } => "--label",
            ExportError::CaCert(_) => "--ca-cert",
            ExportError::Header("org id") => "--org-id",
            ExportError::Header(_) => "HEAPPROF_PUSH_TOKEN",
            _ => "URL",
        };
        bad(subject, e)
    })?;

    // Read everything first: a bad file stops the command before anything is sent.
    let mut profiles = Vec::with_capacity(args.sources.len());
    for spec in &args.sources {
        profiles.push((spec.as_str(), source::load(spec, None)?));
    }
    let mut sent = 0;
    for (i, (spec, profile)) in profiles.iter().enumerate() {
        let to_send = if args.delta {
            let Some((_, earlier)) = i.checked_sub(1).map(|j| &profiles[j]) else { continue };
            alloc_delta(profile, earlier).map_err(|e| bad(*spec, e))?
        } else {
            profile.clone()
        };
        let from = u64::try_from(to_send.time_nanos).unwrap_or(0);
        let until = from.saturating_add(u64::try_from(to_send.duration_nanos).unwrap_or(0));
        pusher.push(&encode_gzip(&to_send), from, until).with_context(|| format!("pushing {spec}"))?;
        sent += 1;
    }
    println!("pushed {sent} profile{} to {}", if sent == 1 { "" } else { "s" }, args.url);
    Ok(())
}

/// `later` with its `alloc_*` values reduced by `earlier`'s, its `inuse_*` values
/// kept, and its time span starting at `earlier`'s time. Across a process
/// restart (see [`ProcessMark`]), or where a difference would be negative,
/// `later` is sent whole.
fn alloc_delta(later: &Profile, earlier: &Profile) -> Result<Profile, String> {
    let is_alloc = |p: &Profile| -> Vec<bool> {
        p.sample_type.iter().map(|t| p.str(t.r#type).starts_with("alloc_")).collect()
    };
    let kinds = is_alloc(later);
    if kinds != is_alloc(earlier) {
        return Err("its sample types differ from the previous profile's".to_string());
    }
    if ProcessMark::of(later).restart_since(&ProcessMark::of(earlier)).is_some() {
        return Ok(later.clone());
    }
    let mut base = earlier.clone();
    for s in &mut base.sample {
        for (v, alloc) in s.value.iter_mut().zip(&kinds) {
            *v = if *alloc { -*v } else { 0 };
        }
    }
    let mut delta = merge(&[later.clone(), base]).map_err(|e| e.to_string())?;
    let negative = delta.sample.iter().any(|s| s.value.iter().zip(&kinds).any(|(v, a)| *a && *v < 0));
    if negative {
        return Ok(later.clone());
    }
    delta.time_nanos = earlier.time_nanos;
    delta.duration_nanos = (later.time_nanos + later.duration_nanos - earlier.time_nanos).max(0);
    Ok(delta)
}
