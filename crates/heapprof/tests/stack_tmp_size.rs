#[test]
fn sizes() {
    let before = unsafe { libc::mallinfo2() }.uordblks;
    let c = framehop::x86_64::CacheX86_64::<framehop::MustNotAllocateDuringUnwind>::new_in();
    let after = unsafe { libc::mallinfo2() }.uordblks;
    println!("cache heap bytes {}", after - before);
    std::hint::black_box(&c);
}
