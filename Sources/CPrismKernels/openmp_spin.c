// How long oneDNN's OpenMP threads spin after a product before they sleep. Debian's oneDNN runs on libgomp, whose
// idle threads spin GOMP_SPINCOUNT pause iterations (300,000 unless the user says otherwise: 8 ms on Zen 4, more
// on Intel) after every parallel region. Prism calls oneDNN between its own pool's regions (attention, norms,
// the MoE's expert products), so a spinning OpenMP thread held one of the two cores while Prism's worker waited
// for it: 24–30 % of `ask --batch` samples were libgomp spinning. 10,000 iterations (about 0.3 ms on Zen 4, the
// order of Prism's own pool spin) keep a thread hot between back-to-back products without starving the pool.
//
// libgomp reads its settings once, in its constructor, before any code of Prism's runs, and the environment cannot
// be changed from the executable's preinit array either (libc's own initialisation, which runs after it, resets
// `environ` to the process's original one). So the process starts itself again, once, with GOMP_SPINCOUNT added:
// from the preinit array, before any library has started a thread or opened anything, where an exec costs only
// the dynamic loading again (about 20 ms). A user's OMP_WAIT_POLICY or GOMP_SPINCOUNT is left alone, and if the
// exec fails the process simply goes on with libgomp's default.
#include "prism_kernels.h"
#include <string.h>
#include <unistd.h>

static const char spin_setting[] = "GOMP_SPINCOUNT=10000";

const char *prism_openmp_spin_setting(char *const *envp) {
    for (char *const *e = envp; e && *e; e++) {
        if (!strncmp(*e, "GOMP_SPINCOUNT=", 15) || !strncmp(*e, "OMP_WAIT_POLICY=", 16)) return NULL;
    }
    return spin_setting;
}

#if defined(__linux__)
static void prism_openmp_spin_default(int argc, char **argv, char **envp) {
    (void)argc;
    const char *setting = prism_openmp_spin_setting(envp);
    if (!argv || !argv[0] || !setting) return;
    size_t n = 0;
    while (envp && envp[n]) n++;
    char *env[n + 2];
    for (size_t i = 0; i < n; i++) env[i] = envp[i];
    env[n] = (char *)setting;
    env[n + 1] = NULL;
    execve("/proc/self/exe", argv, env);   // returns only on failure: carry on as started
}

__attribute__((section(".preinit_array"), used))
static void (*const prism_openmp_spin_init)(int, char **, char **) = prism_openmp_spin_default;
#endif
