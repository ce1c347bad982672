// Heap housekeeping that Swift's Glibc module does not expose.
#include "prism_kernels.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void prism_release_free_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);   // every arena's whole free pages back to the system
#endif
}
