//! heapprof
