//! The accuracy workload on the system allocator, or on whatever LD_PRELOAD puts
//! under malloc: prints the exact per-site totals and, when jemalloc's `mallctl` is
//! there, asks jemalloc for a heap profile dump (`prof.dump`) while the sites' last
//! blocks are still live.
//!
//! ```text
//! LD_PRELOAD=libjemalloc.so.2 MALLOC_CONF=prof:true,lg_prof_sample:19 \
//!     target/release/accuracy_bare [--divisor N] --dump jemalloc.heap
//! ```

use heapprof_bench::accuracy;

fn main() {
    let flags = heapprof_bench::runner::Flags::from_env(
        "accuracy_bare",
        "[--divisor N] [--dump PATH]",
        &["--divisor", "--dump"],
        &[],
    );
    let divisor = heapprof_bench::accuracy_divisor(&flags);
    let dump = flags.text("--dump");
    let held = accuracy::run_sites(divisor);
    print!("{}", accuracy::format_sites("truth", &held.truth));
    if let Some(path) = dump {
        match jemalloc_dump(path) {
            Ok(()) => println!("dumped {path}"),
            Err(e) => {
                eprintln!("accuracy_bare: {e}");
                std::process::exit(2);
            }
        }
    }
    drop(held);
}

type Mallctl = unsafe extern "C" fn(
    *const libc::c_char,
    *mut libc::c_void,
    *mut libc::size_t,
    *mut libc::c_void,
    libc::size_t,
) -> libc::c_int;

/// `mallctl("prof.dump", NULL, NULL, &path, sizeof path)`, looked up at run time so
/// that the binary runs on any allocator.
fn jemalloc_dump(path: &str) -> Result<(), String> {
    let path = std::ffi::CString::new(path).map_err(|_| "a NUL in the dump path".to_owned())?;
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name has no preconditions.
    let sym = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"mallctl".as_ptr()) };
    if sym.is_null() {
        return Err("no mallctl in this process: preload jemalloc to dump its profile".into());
    }
    // SAFETY: `mallctl` is jemalloc's, whose signature is `Mallctl`.
    let mallctl: Mallctl = unsafe { std::mem::transmute::<*mut libc::c_void, Mallctl>(sym) };
    let mut name = path.as_ptr();
    // SAFETY: prof.dump takes a `const char *` by pointer; `name` and `path` outlive the call.
    let rc = unsafe {
        mallctl(
            c"prof.dump".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            (&raw mut name).cast(),
            std::mem::size_of::<*const libc::c_char>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("mallctl(prof.dump) failed: error {rc} (is MALLOC_CONF=prof:true set?)"))
    }
}
