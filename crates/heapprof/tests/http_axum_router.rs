//! The axum router serves the same routes as the built-in server.

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

#[test]
fn axum_router_serves_the_same_routes() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, heapprof::http::router(10)).await });
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let base = format!("http://{addr}/debug/pprof");

    let mut heap = agent.get(&format!("{base}/heap")).call().expect("GET heap");
    assert_eq!(heap.status().as_u16(), 200);
    assert_eq!(heap.headers()["content-type"], "application/octet-stream");
    assert_eq!(heap.headers()["content-disposition"], "attachment; filename=\"heap\"");
    let body = heap.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap();
    heapprof::pprof::decode(&body).expect("decodes");

    let index = agent.get(&format!("{base}/")).call().expect("GET index");
    assert_eq!(index.status().as_u16(), 200);
    let bad = agent.get(&format!("{base}/heap?seconds=11")).call().expect("GET bad");
    assert_eq!(bad.status().as_u16(), 400);
    let missing = agent.get(&format!("{base}/mutex")).call().expect("GET missing");
    assert_eq!(missing.status().as_u16(), 404);
}
