//! Helpers shared by the `stack_*` tests: resolving captured addresses and comparing
//! them with libgcc's unwinder (`backtrace::trace`, i.e. `_Unwind_Backtrace`).
#![allow(dead_code)]

use std::ffi::{CStr, c_void};

use heapprof::stack::{Capture, StackEnd};

/// Room for the deepest stack a test makes.
pub const DEPTH: usize = 256;

/// The function names at a return address, innermost inlined function first.
pub fn names_at(return_address: usize) -> Vec<String> {
    let mut names = Vec::new();
    backtrace::resolve((return_address - 1) as *mut c_void, |symbol| {
        if let Some(name) = symbol.name() {
            names.push(format!("{name:#}"));
        }
    });
    names
}

/// For each frame, its names joined by " <- " (inlined frames), or "?" if unknown.
pub fn describe(frames: &[usize]) -> Vec<String> {
    frames
        .iter()
        .map(|&ra| {
            let names = names_at(ra);
            if names.is_empty() {
                // backtrace reads the module list once: modules loaded later are unknown to it.
                format!("{} in {} ({ra:#x})", dynamic_symbol(ra), module_of(ra))
            } else {
                names.join(" <- ")
            }
        })
        .collect()
}

/// The file name of the module holding `address`, from the loader (`dladdr`).
pub fn module_of(address: usize) -> String {
    // SAFETY: dladdr only reads the loader's tables; `info` is written before it is read.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(address as *const c_void, &mut info) == 0 || info.dli_fname.is_null() {
            return String::from("<none>");
        }
        CStr::from_ptr(info.dli_fname).to_string_lossy().into_owned()
    }
}

/// The exported symbol at or before `return_address - 1`, from the loader (`dladdr`).
pub fn dynamic_symbol(return_address: usize) -> String {
    // SAFETY: as in `module_of`.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr((return_address - 1) as *const c_void, &mut info) == 0 || info.dli_sname.is_null() {
            return String::from("?");
        }
        CStr::from_ptr(info.dli_sname).to_string_lossy().into_owned()
    }
}

/// Return addresses seen by libgcc's unwinder from the caller of this function, the
/// return address into that caller first (as `capture` reports them).
#[inline(never)]
pub fn libgcc_trace() -> Vec<usize> {
    let mut ips = Vec::new();
    backtrace::trace(|frame| {
        ips.push(frame.ip() as usize);
        true
    });
    // Drop the frames inside backtrace and this function: keep what follows the
    // return address into this function's caller.
    let here = libgcc_trace as *const () as usize;
    let Some(pos) =
        ips.iter().position(|&ip| names_at(ip).iter().any(|n| n.ends_with("libgcc_trace")) || ip == here)
    else {
        return ips;
    };
    ips.split_off(pos + 1)
}

/// Asserts that our capture and libgcc's agree frame by frame. `ours` was captured at a
/// different call site of the same function as `theirs`, so their first frames differ
/// and the rest must be equal.
pub fn assert_matches_libgcc(ours: &[usize], theirs: &[usize]) {
    assert!(ours.len() >= 2, "too short: {:#?}", describe(ours));
    let Some(start) = theirs.iter().position(|&ip| ip == ours[1]) else {
        panic!(
            "libgcc's stack does not contain our second frame\nours: {:#?}\nlibgcc: {:#?}",
            describe(ours),
            describe(theirs)
        );
    };
    let theirs = &theirs[start..];
    // libgcc may report one last frame whose return address is 0 or a final frame we
    // stop before; compare what both have and require the same length.
    let theirs: Vec<usize> = theirs.iter().copied().filter(|&ip| ip != 0).collect();
    assert_eq!(
        &ours[1..],
        &theirs[..],
        "\nours:   {:#?}\nlibgcc: {:#?}",
        describe(&ours[1..]),
        describe(&theirs)
    );
}

/// Asserts that `names` (a description from [`describe`]) contains `chain` in order,
/// starting at its first frame.
pub fn assert_starts_with_chain(frames: &[String], chain: &[&str]) {
    assert!(frames.len() >= chain.len(), "too short: {frames:#?}");
    for (i, expected) in chain.iter().enumerate() {
        assert!(frames[i].contains(expected), "frame {i} should be in {expected}: {frames:#?}");
    }
}

/// Asserts that the capture reached the first frame of the thread.
pub fn assert_complete(capture: Capture, frames: &[usize]) {
    assert_eq!(capture.end, StackEnd::Root, "incomplete stack: {:#?}", describe(frames));
}

/// Asserts that each of `expected` appears in `frames` (descriptions), in this order.
pub fn assert_in_order(frames: &[String], expected: &[&str]) {
    let mut at = 0;
    for name in expected {
        match frames[at..].iter().position(|f| f.contains(name)) {
            Some(i) => at += i + 1,
            None => panic!("{name} missing after frame {at}: {frames:#?}"),
        }
    }
}
