//! Fork safety: a child process must not inherit a table lock held by a thread
//! that does not exist in it. The forking thread takes every lock before `fork`
//! and both processes release them after; the child also takes the threads that did
//! not follow it out of the registry of threads (`thread_state`).

use std::sync::atomic::{AtomicBool, Ordering};

static REGISTERED: &AtomicBool = &crate::sample_line::SAMPLE_LINE.fork_handlers;

/// Registers the `pthread_atfork` handlers once.
pub(crate) fn ensure_handlers() {
    if REGISTERED.load(Ordering::Relaxed) || REGISTERED.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: the handlers are extern "C" functions that neither allocate nor unwind.
    unsafe { libc::pthread_atfork(Some(prepare), Some(in_parent), Some(in_child)) };
}

// The registry of threads is taken last: a thread holding another of these locks may
// allocate, and its first allocation joins the registry.
extern "C" fn prepare() {
    crate::heap::lock_for_fork();
    crate::records::lock_all_for_fork();
    crate::thread_state::lock_for_fork();
}

extern "C" fn in_parent() {
    crate::thread_state::unlock_after_fork_in_parent();
    release();
}

extern "C" fn in_child() {
    crate::thread_state::unlock_after_fork_in_child();
    release();
}

fn release() {
    crate::records::unlock_all_after_fork();
    crate::heap::unlock_after_fork();
}
