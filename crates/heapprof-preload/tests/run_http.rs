//! `heapprof run --http`: the program serves its own `/debug/pprof` endpoints
//! (here, Debian's python3 fetches its own heap profile and statistics).

mod support;

use support::*;

#[test]
fn the_program_serves_its_own_profile() {
    let Some(python) = debian_python() else { return };
    // Built first: the build can take minutes, too long to hold a port unbound.
    binaries();
    // A free loopback port: bound, then released for the program to take.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let script = format!(
        "import urllib.request, json, time\n\
         keep = [bytearray(100000) for _ in range(50)]\n\
         for attempt in range(100):\n\
         \x20   try:\n\
         \x20       heap = urllib.request.urlopen('http://{addr}/debug/pprof/heap', timeout=10).read(); break\n\
         \x20   except OSError: time.sleep(0.05)\n\
         stats = json.loads(urllib.request.urlopen('http://{addr}/debug/pprof/stats', timeout=10).read())\n\
         print('GOT', len(heap), heap[:2].hex(), stats['live_bytes'] >= 5000000)\n"
    );
    let dir = scratch("http");
    let out = heapprof_run(
        dir.path(),
        &["--rate", "64k", "--http", &addr],
        &[python.to_str().unwrap(), "-c", &script],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let line = stdout.lines().find(|l| l.starts_with("GOT ")).unwrap_or_else(|| panic!("{stdout}\n{stderr}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(fields[1].parse::<usize>().unwrap() > 100, "{line}");
    assert_eq!(fields[2], "1f8b", "gzip: {line}");
    assert_eq!(fields[3], "True", "the statistics count the program's 5 MB: {line}");
}
