// A library the test program dlopens after start. Built without debug info, so
// its function names come from the symbol table.
#include <stdlib.h>

__attribute__((noinline)) void *plugin_alloc(size_t n) { return malloc(n); }

// Allocates `n` blocks (frees all but one); reports their count and bytes, and
// the bytes of the one kept.
long plugin_work(int n, long *bytes, long *kept) {
    void *keep = NULL;
    for (int i = 0; i < n; i++) {
        size_t size = 32 + (size_t)i * 5;
        void *p = plugin_alloc(size);
        *bytes += (long)size;
        if (i == n / 2) { keep = p; *kept = (long)size; } else free(p);
    }
    (void)keep;
    return n;
}
