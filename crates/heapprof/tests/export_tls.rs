//! `https://` targets: a server whose certificate comes from a private CA (made
//! with the `openssl` command for this test) is refused by default, and accepted
//! once that CA is given with `ca_cert_pem`. Skipped, saying so, when `openssl`
//! is not installed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use heapprof::export::{ExportError, ExporterBuilder};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

fn openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl").current_dir(dir).args(args).output().is_ok_and(|o| o.status.success())
}

/// A CA and a certificate for 127.0.0.1 signed by it: (ca.pem, leaf.pem, leaf.key).
fn make_certs(dir: &Path) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let ca = [&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]].concat();
    let ok = openssl(dir, &[&ca[..], &["-subj", "/CN=heapprof test CA"]].concat())
        && openssl(
            dir,
            &[&["req"][..], &ec, &["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"]]
                .concat(),
        )
        && std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
            .is_ok()
        && openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "leaf.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
    let read = |f: &str| std::fs::read(dir.join(f)).ok();
    if ok { Some((read("ca.pem")?, read("leaf.pem")?, read("leaf.key")?)) } else { None }
}

/// An HTTPS server answering 200 to each complete request; returns its port and
/// the number of requests it answered.
fn serve_tls(cert_pem: &[u8], key_pem: &[u8]) -> (u16, Arc<AtomicUsize>) {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert_pem).collect::<Result<_, _>>().expect("cert");
    let key = PrivateKeyDer::from_pem_slice(key_pem).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let answered = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&answered);
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, count) = (Arc::clone(&config), Arc::clone(&count));
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                let Ok(conn) = rustls::ServerConnection::new(config) else { return };
                let mut reader = BufReader::new(rustls::StreamOwned::new(conn, tcp));
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    // A refused handshake ends here with an error, as it should.
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        line.clear();
                    }
                    if line != "\r\n" {
                        return;
                    }
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let stream = reader.get_mut();
                    if stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").is_err() {
                        return;
                    }
                    let _ = stream.flush();
                }
            });
        }
    });
    (port, answered)
}

#[test]
fn a_private_ca_is_refused_unless_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((ca, leaf, key)) = make_certs(dir.path()) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "openssl is required under CI but is not installed"
        );
        eprintln!("SKIPPED: the openssl command is not available to make test certificates");
        return;
    };
    let (port, answered) = serve_tls(&leaf, &key);
    let url = format!("https://127.0.0.1:{port}");
    let profile = heapprof::pprof::encode_gzip(&heapprof::heap_profile());

    // Default: Mozilla's roots only; the private CA is not among them.
    let pusher = ExporterBuilder::pyroscope(&url).app("tls").pusher().expect("pusher");
    match pusher.push(&profile, 1, 2) {
        Err(e @ ExportError::Transport { .. }) => {
            assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
            assert!(e.is_retryable());
        }
        other => panic!("expected a certificate error, got {other:?}"),
    }
    let exporter = ExporterBuilder::pyroscope(&url)
        .app("tls")
        .interval(Duration::from_millis(50))
        .start()
        .expect("start");
    std::thread::sleep(Duration::from_millis(300));
    let c = exporter.stop();
    assert!(c.sent == 0 && c.failed + c.retried > 0, "{c:?}");
    assert_eq!(answered.load(Ordering::SeqCst), 0);

    // With the CA configured: accepted.
    let pusher =
        ExporterBuilder::pyroscope(&url).app("tls").ca_cert_pem(ca.clone()).pusher().expect("pusher");
    pusher.push(&profile, 1, 2).expect("accepted with the CA configured");
    let exporter = ExporterBuilder::pyroscope(&url)
        .app("tls")
        .ca_cert_pem(ca)
        .interval(Duration::from_millis(50))
        .start()
        .expect("start");
    let end = Instant::now() + Duration::from_secs(30);
    while exporter.counters().sent < 2 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    let c = exporter.stop();
    assert!(c.sent >= 2 && c.failed == 0, "{c:?}");
    assert!(answered.load(Ordering::SeqCst) >= 3);
}

#[test]
fn a_pem_without_certificates_is_refused_at_build() {
    let err = ExporterBuilder::parca("https://h").app("a").ca_cert_pem(&b"junk"[..]).pusher().err();
    assert!(matches!(err, Some(ExportError::CaCert(_))), "{err:?}");
}
