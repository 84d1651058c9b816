//! Stacks that pass through code Rust did not build: a thread started by
//! `pthread_create`, a comparator called back from libc's `qsort`, and a shared library
//! loaded with `dlopen` after the unwinder read the module list.

mod stack_support;

use std::ffi::{CString, c_int, c_void};
use std::hint::black_box;
use std::path::Path;
use std::sync::Mutex;

use heapprof::stack::{Capture, StackEnd, Unwinder, capture, capture_with};
use stack_support::*;

/// What a callback saw: our capture and libgcc's trace from the same function.
#[derive(Clone, Debug, Default)]
struct Seen {
    capture: Option<Capture>,
    frames: Vec<usize>,
    libgcc: Vec<usize>,
}

#[inline(never)]
fn look() -> Seen {
    let mut out = [0usize; DEPTH];
    let capture = capture_with(Unwinder::Dwarf, &mut out);
    let libgcc = libgcc_trace();
    black_box(Seen { capture: Some(capture), frames: out[..capture.len].to_vec(), libgcc })
}

#[test]
fn thread_started_by_pthread_create() {
    extern "C" fn start(arg: *mut c_void) -> *mut c_void {
        let seen = look();
        // SAFETY: `arg` is the `Seen` owned by the test, which waits for this thread.
        unsafe { *arg.cast::<Seen>() = seen };
        std::ptr::null_mut()
    }
    let mut seen = Seen::default();
    // SAFETY: `seen` outlives the thread (joined below); `start` matches the signature.
    unsafe {
        let mut thread: libc::pthread_t = 0;
        let rc = libc::pthread_create(&mut thread, std::ptr::null(), start, (&raw mut seen).cast::<c_void>());
        assert_eq!(rc, 0);
        assert_eq!(libc::pthread_join(thread, std::ptr::null_mut()), 0);
    }
    let capture = seen.capture.unwrap();
    assert_complete(capture, &seen.frames);
    let names = describe(&seen.frames);
    assert_starts_with_chain(&names, &["look", "start"]);
    // start → start_thread → clone3: nothing but libc after our start routine.
    assert_eq!(seen.frames.len(), 4, "{names:#?}");
    assert!(seen.frames[2..].iter().all(|&ra| module_of(ra).contains("libc.so")), "{names:#?}");
    assert_matches_libgcc(&seen.frames, &seen.libgcc);
}

static FROM_COMPARATOR: Mutex<Option<Seen>> = Mutex::new(None);

#[test]
fn comparator_called_back_from_qsort() {
    extern "C" fn compare(a: *const c_void, b: *const c_void) -> c_int {
        let mut slot = FROM_COMPARATOR.lock().unwrap();
        if slot.is_none() {
            *slot = Some(look());
        }
        // SAFETY: qsort passes pointers to two elements of the `u64` array being sorted.
        let (a, b) = unsafe { (*a.cast::<u64>(), *b.cast::<u64>()) };
        a.cmp(&b) as c_int
    }
    #[inline(never)]
    fn sort(values: &mut [u64]) {
        // SAFETY: `values` is a valid array of `len` elements of 8 bytes each.
        unsafe {
            libc::qsort(values.as_mut_ptr().cast::<c_void>(), values.len(), 8, Some(compare));
        }
        black_box(&values);
    }
    let mut values: Vec<u64> = (0..64).rev().collect();
    sort(&mut values);
    assert!(values.windows(2).all(|w| w[0] <= w[1]));
    let seen = FROM_COMPARATOR.lock().unwrap().clone().unwrap();
    let capture = seen.capture.unwrap();
    assert_complete(capture, &seen.frames);
    let names = describe(&seen.frames);
    assert_starts_with_chain(&names, &["look", "compare"]);
    // Then frames inside libc (qsort's merge sort), then our `sort`, and on to the thread's start.
    assert!(module_of(seen.frames[2]).contains("libc.so"), "{names:#?}");
    let back_in_rust = (2..seen.frames.len())
        .find(|&i| !module_of(seen.frames[i]).contains("libc.so"))
        .expect("the stack continues past libc");
    assert!(back_in_rust > 2, "{names:#?}");
    assert!(names[back_in_rust].contains("sort"), "back in the Rust caller of qsort: {names:#?}");
    assert_in_order(&names[back_in_rust..], &["comparator_called_back_from_qsort", "start_thread"]);
    assert_matches_libgcc(&seen.frames, &seen.libgcc);
}

/// A C library built for this test, with functions that call back into us through
/// `depth + 1` frames without frame pointers; `padding` functions first shift its code.
fn library_source(padding: usize, depth: u32) -> String {
    let mut source = String::from("#include <stddef.h>\ntypedef size_t (*callback)(void *);\n");
    for i in 0..padding {
        source.push_str(&format!(
            "__attribute__((noinline)) int heapprof_test_pad{i}(int x) {{\n\
             volatile int a[64]; for (int i = 0; i < 64; i++) a[i] = x * i + {i};\n\
             return a[x & 63]; }}\n"
        ));
    }
    source.push_str(&format!(
        r#"
__attribute__((noinline)) size_t heapprof_test_descend(callback cb, void *arg, int depth) {{
    volatile char pad[48];
    pad[depth % 48] = (char)depth;
    size_t r = depth > 0 ? heapprof_test_descend(cb, arg, depth - 1) : cb(arg);
    return r + (size_t)pad[depth % 48] - (size_t)depth;
}}

size_t heapprof_test_enter(callback cb, void *arg) {{
    volatile size_t extra = 1;
    size_t r = heapprof_test_descend(cb, arg, {depth});
    return r + extra;
}}
"#
    ));
    source
}

type Enter = unsafe extern "C" fn(extern "C" fn(*mut c_void) -> usize, *mut c_void) -> usize;

/// Builds the library in `dir` (with `cc`) and loads it.
fn build_and_load(dir: &Path, name: &str, source: &str) -> (*mut c_void, Enter) {
    let c_file = dir.join(format!("{name}.c"));
    let library = dir.join(format!("lib{name}.so"));
    std::fs::write(&c_file, source).unwrap();
    let status = std::process::Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-shared", "-fPIC", "-O2", "-fomit-frame-pointer", "-o"])
        .arg(&library)
        .arg(&c_file)
        .status()
        .expect("a C compiler (cc) to build the test library");
    assert!(status.success());
    let path = CString::new(library.to_str().unwrap()).unwrap();
    // SAFETY: loads a library we just built; its symbol has the `Enter` signature.
    unsafe {
        let handle = libc::dlopen(path.as_ptr(), libc::RTLD_NOW);
        assert!(!handle.is_null(), "dlopen failed");
        let symbol = libc::dlsym(handle, c"heapprof_test_enter".as_ptr());
        assert!(!symbol.is_null());
        (handle, std::mem::transmute::<*mut c_void, Enter>(symbol))
    }
}

extern "C" fn callback(arg: *mut c_void) -> usize {
    // SAFETY: `arg` is the test's `Seen`, alive during the call.
    unsafe { *arg.cast::<Seen>() = look() };
    1
}

#[inline(never)]
fn call_into_library(enter: Enter) -> Seen {
    let mut seen = Seen::default();
    // SAFETY: `enter` calls `callback` with `seen`, which outlives the call.
    let r = unsafe { enter(callback, (&raw mut seen).cast::<c_void>()) };
    assert_eq!(black_box(r), 2);
    seen
}

/// Checks a stack captured through a test library: the callback, `depth + 1` frames of
/// `heapprof_test_descend`, `heapprof_test_enter`, then Rust again down to the root.
fn check_library_stack(seen: &Seen, library: &str, depth: usize) {
    let capture = seen.capture.unwrap();
    assert_complete(capture, &seen.frames);
    let names = describe(&seen.frames);
    let mut chain = vec!["look", "callback"];
    chain.extend(std::iter::repeat_n("heapprof_test_descend", depth + 1));
    chain.extend(["heapprof_test_enter", "call_into_library"]);
    assert_starts_with_chain(&names, &chain);
    assert!(module_of(seen.frames[2]).ends_with(library), "{names:#?}");
    assert_matches_libgcc(&seen.frames, &seen.libgcc);
}

#[test]
fn libraries_loaded_and_unloaded_after_start() {
    let dir = tempfile::tempdir().unwrap();
    // Make sure the unwinder has read the module list before any library is loaded.
    let mut out = [0usize; DEPTH];
    assert_eq!(capture(&mut out).end, StackEnd::Root);

    let (first, enter) = build_and_load(dir.path(), "heapprof_first", &library_source(0, 2));
    check_library_stack(&call_into_library(enter), "libheapprof_first.so", 2);

    // Unload it; the next library is likely mapped at the same address, with other code
    // there: the rules learnt for the first library must not be used for it.
    // SAFETY: nothing of the first library is in use any more.
    assert_eq!(unsafe { libc::dlclose(first) }, 0);
    let (second, enter) = build_and_load(dir.path(), "heapprof_second", &library_source(7, 4));
    check_library_stack(&call_into_library(enter), "libheapprof_second.so", 4);

    // Unloading and telling the unwinder directly.
    // SAFETY: nothing of the second library is in use any more.
    assert_eq!(unsafe { libc::dlclose(second) }, 0);
    assert!(heapprof::stack::refresh_modules());
    assert_eq!(capture(&mut out).end, StackEnd::Root);
}
