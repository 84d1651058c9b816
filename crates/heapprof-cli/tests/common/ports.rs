//! Ports for test servers that stop and start again on the same port.
#![allow(dead_code)] // each test binary uses a part of it

/// A port for a test server that goes down and comes back on the same port.
/// It lies below Linux's ephemeral range (32768 and up), so no outgoing
/// connection of another test can take it while the server is down; the start
/// is random so parallel test processes rarely pick the same one.
pub fn restartable_port() -> u16 {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
    for i in 0..4000u64 {
        let port = 20000 + ((seed.wrapping_mul(2654435761) + i * 7919) % 12000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000..32000");
}

/// Binds `port` on 127.0.0.1, retrying for up to five seconds while it is still
/// in use (a just-stopped server's socket can linger).
pub fn bind_again(port: u16) -> std::net::TcpListener {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => return l,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("bind 127.0.0.1:{port}: {e}"),
        }
    }
}
