// A C program that exercises the whole C allocation API and counts, itself, what
// it asks for: every allocation goes through an app_* function (never inlined),
// so the test can compare the profile's samples through app_* with these counts.
// Usage: alloc_mix PLUGIN.so (exit|_exit) [fork [WAIT_MS WAIT_FOR]]
// WAIT_FOR: a path with one %d (the child's pid); the forked child lives on after its
// work until that file exists, at most WAIT_MS.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_long allocs, bytes, live_allocs, live_bytes;

static void note(size_t n) {
    atomic_fetch_add(&allocs, 1);
    atomic_fetch_add(&bytes, (long)n);
}

__attribute__((noinline)) void *app_malloc(size_t n) { note(n); return malloc(n); }
__attribute__((noinline)) void *app_calloc(size_t c, size_t n) { note(c * n); return calloc(c, n); }
__attribute__((noinline)) void *app_realloc(void *p, size_t n) {
    if (!(p && n == 0)) note(n); // realloc(p, 0) only frees
    return realloc(p, n);
}
__attribute__((noinline)) void *app_reallocarray(void *p, size_t c, size_t n) { note(c * n); return reallocarray(p, c, n); }
__attribute__((noinline)) void *app_memalign_posix(size_t align, size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, align, n) != 0) { fprintf(stderr, "posix_memalign failed\n"); exit(1); }
    if ((size_t)p % align != 0) { fprintf(stderr, "misaligned %p for %zu\n", p, align); exit(1); }
    note(n);
    return p;
}
__attribute__((noinline)) void *app_aligned_alloc(size_t align, size_t n) { note(n); return aligned_alloc(align, n); }
__attribute__((noinline)) void *app_memalign(size_t align, size_t n) { note(n); return memalign(align, n); }
__attribute__((noinline)) void *app_valloc(size_t n) { note(n); return valloc(n); }
__attribute__((noinline)) void *app_pvalloc(size_t n) { note(n); return pvalloc(n); }

// Kept until exit on purpose: the profile's in-use values must show exactly these.
static void leak(void *p, size_t n) {
    (void)p;
    atomic_fetch_add(&live_allocs, 1);
    atomic_fetch_add(&live_bytes, (long)n);
}

#define THREADS 4
#define PER_THREAD 2000
static void *handoff[THREADS][PER_THREAD];
static pthread_barrier_t barrier;
static pthread_key_t key;

// Runs at thread exit, after the thread's TLS is being torn down: it allocates.
static void tls_destructor(void *v) {
    char *s = app_malloc(100);
    memcpy(s, v, 8);
    free(s);
    free(v);
}

static void *worker(void *arg) {
    long t = (long)arg;
    pthread_setspecific(key, app_malloc(64));
    for (int i = 0; i < PER_THREAD; i++) handoff[t][i] = app_malloc(16 + (size_t)(i * 7 + t) % 3000);
    pthread_barrier_wait(&barrier);
    // Free what the next thread allocated: frees from another thread.
    long other = (t + 1) % THREADS;
    for (int i = 0; i < PER_THREAD; i++) free(handoff[other][i]);
    for (int i = 0; i < 500; i++) {
        char *p = app_calloc(3, 10 + i);
        p = app_realloc(p, 200 + i * 3);
        p = app_realloc(p, 20);
        free(p);
    }
    return NULL;
}

__attribute__((noinline)) static void app_child_work(void) {
    for (int i = 0; i < 100; i++) free(app_malloc(1000));
    void *p = app_malloc(12345);
    leak(p, 12345);
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: alloc_mix PLUGIN exit|_exit [fork [WAIT_MS WAIT_FOR]]\n"); return 2; }
    pthread_key_create(&key, tls_destructor);
    pthread_barrier_init(&barrier, NULL, THREADS);
    pthread_t th[THREADS];
    for (long t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, worker, (void *)t);
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);

    size_t aligns[] = {16, 64, 4096, 65536, 1 << 21};
    for (int i = 0; i < 5; i++) {
        free(app_memalign_posix(aligns[i], 100 + i));
        free(app_aligned_alloc(aligns[i], aligns[i] * 2));
        free(app_memalign(aligns[i], 300));
    }
    free(app_valloc(5000));
    free(app_pvalloc(5000));
    void *z = app_realloc(NULL, 77);        // a malloc
    if (app_realloc(z, 0) != NULL) return 1; // glibc: a free, NULL
    int *arr = app_reallocarray(NULL, 100, sizeof(int));
    arr = app_reallocarray(arr, 1000, sizeof(int));
    leak(arr, 1000 * sizeof(int));
    if (malloc_usable_size(arr) < 1000 * sizeof(int)) return 1;
    void *big = app_malloc(3 << 20);
    leak(big, 3 << 20);

    // A library loaded now: its frames must symbolize too.
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    long (*plugin_work)(int, long *, long *) = (long (*)(int, long *, long *))dlsym(h, "plugin_work");
    long pb = 0, pl = 0;
    long pn = plugin_work(300, &pb, &pl);
    atomic_fetch_add(&allocs, pn);
    atomic_fetch_add(&bytes, pb);
    atomic_fetch_add(&live_allocs, 1);
    atomic_fetch_add(&live_bytes, pl);

    if (argc > 3 && strcmp(argv[3], "fork") == 0) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            app_child_work();
            if (argc > 5) {
                char path[4096];
                snprintf(path, sizeof path, argv[5], (int)getpid());
                for (int ms = 0; ms < atoi(argv[4]) && access(path, F_OK) != 0; ms += 20) usleep(20 * 1000);
            }
            exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    }
    printf("COUNTS allocs=%ld bytes=%ld live_allocs=%ld live_bytes=%ld\n", atomic_load(&allocs), atomic_load(&bytes),
           atomic_load(&live_allocs), atomic_load(&live_bytes));
    fflush(stdout);
    if (strcmp(argv[2], "_exit") == 0) _exit(3);
    return 0;
}
