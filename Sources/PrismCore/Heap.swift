import CPrismKernels

/// Returns the heap's free pages to the system. glibc keeps freed memory in per-thread arenas, so without this a
/// server's resident memory stays at its busiest step's peak; call it when work goes idle, not per step.
public func releaseFreedMemory() { prism_release_free_memory() }
