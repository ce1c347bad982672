// Prism's worker pool: threads that spin briefly between parallel regions before sleeping on a futex.
// Decoding runs dozens of parallel regions per token, a few microseconds to a millisecond each, separated by short
// serial stretches; waking a sleeping thread for each (libdispatch, condition variables) costs 20–50 µs, as much as
// a small model's whole matrix product. A worker that keeps spinning for a while after a region picks up the next
// one within a microsecond; one that finds nothing for `spin` microseconds sleeps, so an idle process uses no CPU.
//
// Publication is a seqlock on `gen`: odd while the submitter writes the job, even once it is published. A worker
// announces itself in `active` before reading the job and re-checks `gen` after, and a submitter waits for
// `active` to drain before rewriting the job, so a worker that wakes late never reads a half-written job.
// (Not fork-safe: a child forked while a worker is inside a job would wait for it forever; Prism never forks.)
#include "prism_kernels.h"
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

static struct {
    pthread_once_t once;
    pthread_mutex_t submit;          // one job at a time; a second submitter gets -1 and runs its own way
    int workers;
    _Atomic unsigned gen;
    _Atomic int active, sleepers, nap;
    _Atomic size_t next, done;
    // the job (written only while gen is odd and active is 0)
    prism_pool_fn fn;
    void *ctx;
    size_t count;
    long spin_ns;
} pool = {PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER};

static int requested_threads = 1;
static long requested_spin_us = 200;

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

#if defined(__linux__)
static void futex_wait(_Atomic unsigned *addr, unsigned expected) {
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic unsigned *addr) {
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
#else
// Elsewhere the same contract from a condition variable: sleep while *addr == expected.
static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cond = PTHREAD_COND_INITIALIZER;

static void futex_wait(_Atomic unsigned *addr, unsigned expected) {
    pthread_mutex_lock(&wait_lock);
    while (atomic_load(addr) == expected) pthread_cond_wait(&wait_cond, &wait_lock);
    pthread_mutex_unlock(&wait_lock);
}

static void futex_wake_all(_Atomic unsigned *addr) {
    (void)addr;
    pthread_mutex_lock(&wait_lock);
    pthread_cond_broadcast(&wait_cond);
    pthread_mutex_unlock(&wait_lock);
}
#endif

// Spin-waits with a pause, yielding the core after about a millisecond (a preempted thread we wait for needs it).
static void relax(unsigned spins) {
    if (spins < (1u << 16)) CPU_RELAX(); else sched_yield();
}

// Claims and runs chunks of the current job until none is left.
static void run_chunks(prism_pool_fn fn, void *ctx, size_t count) {
    size_t i;
    while ((i = atomic_fetch_add(&pool.next, 1)) < count) {
        fn(ctx, i);
        atomic_fetch_add(&pool.done, 1);
    }
}

static void *worker_main(void *arg) {
    (void)arg;
    unsigned seen = atomic_load(&pool.gen);
    for (;;) {
        // wait for a newly published job: spin, then sleep
        unsigned g;
        long start = 0;
        for (unsigned spins = 0;; spins++) {
            g = atomic_load_explicit(&pool.gen, memory_order_acquire);
            if (g != seen && !(g & 1)) break;
            if ((spins & 63) == 63) {
                long t = now_ns();
                if (!start) start = t;
                if (t - start > pool.spin_ns || atomic_load_explicit(&pool.nap, memory_order_relaxed)) {
                    atomic_fetch_add(&pool.sleepers, 1);
                    g = atomic_load(&pool.gen);
                    if (g == seen || (g & 1)) futex_wait(&pool.gen, g);
                    atomic_fetch_sub(&pool.sleepers, 1);
                    start = 0;
                    continue;
                }
            }
            CPU_RELAX();
        }
        seen = g;
        atomic_fetch_add(&pool.active, 1);
        if (atomic_load(&pool.gen) == g) run_chunks(pool.fn, pool.ctx, pool.count);
        atomic_fetch_sub(&pool.active, 1);
    }
    return NULL;
}

static void start_workers(void) {
    pool.workers = requested_threads - 1;
    pool.spin_ns = requested_spin_us * 1000L;
    for (int i = 0; i < pool.workers; i++) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, worker_main, NULL) != 0) { pool.workers = i; pthread_attr_destroy(&attr); break; }
        pthread_attr_destroy(&attr);
    }
}

void prism_pool_configure(int threads, long spin_us) {
    requested_threads = threads > 0 ? threads : 1;
    requested_spin_us = spin_us >= 0 ? spin_us : 0;
}

int prism_pool_run(size_t count, prism_pool_fn fn, void *ctx) {
    if (count == 0) return 0;
    pthread_once(&pool.once, start_workers);
    if (pool.workers == 0 || count == 1) {
        for (size_t i = 0; i < count; i++) fn(ctx, i);
        return 0;
    }
    if (pthread_mutex_trylock(&pool.submit) != 0) return -1;
    // seqlock: mark the job as being written, and wait out any worker still looking at the previous one
    atomic_fetch_add(&pool.gen, 1);
    for (unsigned spins = 0; atomic_load(&pool.active) != 0; spins++) relax(spins);
    pool.fn = fn; pool.ctx = ctx; pool.count = count;
    atomic_store(&pool.next, 0);
    atomic_store(&pool.done, 0);
    atomic_store(&pool.nap, 0);
    atomic_fetch_add(&pool.gen, 1);   // published
    if (atomic_load(&pool.sleepers) > 0) futex_wake_all(&pool.gen);
    run_chunks(fn, ctx, count);
    // the last chunks may still be running on the workers
    for (unsigned spins = 0; atomic_load_explicit(&pool.done, memory_order_acquire) < count; spins++) relax(spins);
    pthread_mutex_unlock(&pool.submit);
    return 0;
}

void prism_pool_nap(void) { atomic_store(&pool.nap, 1); }
