//! Fork safety: a child process must not inherit a table lock held by a thread
//! that does not exist in it. The forking thread takes every lock before `fork`
//! and both processes release them after.

use std::sync::atomic::{AtomicBool, Ordering};

static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Registers the `pthread_atfork` handlers once.
pub(crate) fn ensure_handlers() {
    if REGISTERED.load(Ordering::Relaxed) || REGISTERED.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: the handlers are extern "C" functions that neither allocate nor unwind.
    unsafe { libc::pthread_atfork(Some(prepare), Some(release), Some(release)) };
}

extern "C" fn prepare() {
    crate::heap::lock_for_fork();
    crate::records::lock_all_for_fork();
}

extern "C" fn release() {
    crate::records::unlock_all_after_fork();
    crate::heap::unlock_after_fork();
}
