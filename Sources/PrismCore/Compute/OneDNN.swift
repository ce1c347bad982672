// oneDNN (Debian's libdnnl 2.6, C API) behind a few small types: the CPU engine, ISA detection, thread control,
// and matmul primitives with their memory descriptors. oneDNN picks the kernel at run time (AMX, AVX-512-BF16,
// AVX-512, AVX2); nothing here tests CPU flags itself.
import CDNNL
import CPrismKernels
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum OneDNN {
    /// The CPU engine, created on first use and kept for the process (oneDNN objects hold a reference to it).
    static let engine: dnnl_engine_t = {
        var e: dnnl_engine_t?
        check(dnnl_engine_create(&e, dnnl_cpu, 0), "dnnl_engine_create")
        return e!
    }()

    static func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) {
        precondition(status == dnnl_success, "oneDNN: \(what()) failed (status \(status.rawValue))")
    }

    // MARK: - ISA

    /// The most capable instruction set oneDNN will use on this CPU.
    static var isa: dnnl_cpu_isa_t { dnnl_get_effective_cpu_isa() }

    /// bf16 GEMMs run natively from AVX-512-BF16 on (AMX includes it). oneDNN 2.6 also runs bf16 on plain
    /// AVX-512 by emulation, slower than f32 there, so that does not count; AVX2 has no bf16 matmul at all.
    static var hasNativeBF16: Bool {
        let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        return isa.rawValue & bf16 == bf16
    }

    /// AVX-512 (Skylake-SP and later, Zen 4): oneDNN's avx512_core kernels or better.
    static var hasAVX512: Bool {
        let avx512 = dnnl_cpu_isa_avx512_core.rawValue
        return isa.rawValue & avx512 == avx512
    }

    static var isaName: String {
        switch isa {
        case dnnl_cpu_isa_avx512_core_amx: "avx512_core_amx"
        case dnnl_cpu_isa_avx512_core_bf16: "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_vnni: "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core: "avx512_core"
        case dnnl_cpu_isa_avx2_vnni: "avx2_vnni"
        case dnnl_cpu_isa_avx2: "avx2"
        case dnnl_cpu_isa_avx: "avx"
        case dnnl_cpu_isa_sse41: "sse41"
        default: "isa 0x\(String(isa.rawValue, radix: 16))"
        }
    }

    static var version: String {
        let v = dnnl_version().pointee
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    // MARK: - Threads

    /// Debian builds oneDNN on OpenMP, whose thread count is a per-thread setting. Every call into oneDNN goes
    /// through here: Prism's thread count normally, one thread inside a `Parallel.forEach` body (the body is
    /// already one of Prism's parallel workers; a nested OpenMP team per worker would oversubscribe the cores), or
    /// for a small product (`BLAS.smallGEMM`).
    @inline(__always)
    static func prepareThreads(single: Bool = false) {
        let want = single || Parallel.isWorker ? 1 : Parallel.threads
        if ompGetMaxThreads() != want { ompSetNumThreads(want) }
        if want > 1 { prism_pool_nap() }   // OpenMP's threads take the cores now, not the pool's spinning workers
    }

    private typealias SetThreads = @convention(c) (Int32) -> Void
    private typealias GetThreads = @convention(c) () -> Int32
    // libgomp comes in with libdnnl; looked up at run time so Prism links nothing of OpenMP itself.
    private static let setThreadsFn: SetThreads? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "omp_set_num_threads")
        .map { unsafeBitCast($0, to: SetThreads.self) }
    private static let getThreadsFn: GetThreads? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "omp_get_max_threads")
        .map { unsafeBitCast($0, to: GetThreads.self) }
    private static func ompSetNumThreads(_ n: Int) { setThreadsFn?(Int32(n)) }
    private static func ompGetMaxThreads() -> Int { Int(getThreadsFn?() ?? Int32(Parallel.threads)) }
}

// MARK: - Memory descriptors

/// A 2-D operand as oneDNN sees it: rows × cols of one data type with element strides, or "any" (oneDNN chooses
/// the blocked layout: how weights get pre-packed).
struct MatrixDesc {
    var md = dnnl_memory_desc_t()

    /// Row-major rows × cols with `rowStride` elements between rows (≥ cols); `transposed` reads a [cols, rows]
    /// row-major buffer as its transpose (column stride `rowStride`).
    init(rows: Int, cols: Int, type: dnnl_data_type_t, rowStride: Int, transposed: Bool = false) {
        var dims: [Int64] = [Int64(rows), Int64(cols)]
        var strides: [Int64] = transposed ? [1, Int64(rowStride)] : [Int64(rowStride), 1]
        OneDNN.check(dnnl_memory_desc_init_by_strides(&md, 2, &dims, type, &strides), "memory_desc_init_by_strides")
    }

    /// rows × cols in a layout oneDNN picks.
    init(anyRows rows: Int, cols: Int, type: dnnl_data_type_t) {
        var dims: [Int64] = [Int64(rows), Int64(cols)]
        OneDNN.check(dnnl_memory_desc_init_by_tag(&md, 2, &dims, type, dnnl_format_tag_any), "memory_desc_init_by_tag(any)")
    }

    init(_ md: dnnl_memory_desc_t) { self.md = md }

    var byteCount: Int { withUnsafePointer(to: md) { dnnl_memory_desc_get_size($0) } }

    static func == (a: MatrixDesc, b: MatrixDesc) -> Bool {
        withUnsafePointer(to: a.md) { pa in withUnsafePointer(to: b.md) { pb in dnnl_memory_desc_equal(pa, pb) != 0 } }
    }
}

// MARK: - Matmul primitive

/// dst[M, N] (f32) = scale · src[M, K] · weights[K, N] (+ bias[N]) + accumulate · dst, fixed shapes, types and
/// layouts. Executes with a caller-owned scratchpad, so one primitive may run on several threads at once.
final class MatmulPrimitive: @unchecked Sendable {
    private let pd: dnnl_primitive_desc_t
    private let primitive: dnnl_primitive_t
    let src: MatrixDesc, weights: MatrixDesc, dst: MatrixDesc
    let bias: MatrixDesc?
    let scratchpadBytes: Int
    /// oneDNN's name for the kernel it chose, e.g. `brg:avx512_core_amx_bf16` or `gemm:jit`.
    let implementation: String

    /// nil when oneDNN has no implementation for this combination on this CPU.
    init?(src: MatrixDesc, weights: MatrixDesc, dst: MatrixDesc, bias: MatrixDesc? = nil,
          scale: Float = 1, accumulate: Float = 0) {
        var attr: dnnl_primitive_attr_t?
        OneDNN.check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
        defer { dnnl_primitive_attr_destroy(attr) }
        OneDNN.check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "set_scratchpad_mode")
        if scale != 1 {
            var s = scale
            OneDNN.check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &s), "set_output_scales")
        }
        if accumulate != 0 {
            var po: dnnl_post_ops_t?
            OneDNN.check(dnnl_post_ops_create(&po), "post_ops_create")
            defer { dnnl_post_ops_destroy(po) }
            OneDNN.check(dnnl_post_ops_append_sum(po, accumulate), "post_ops_append_sum")
            OneDNN.check(dnnl_primitive_attr_set_post_ops(attr, po), "set_post_ops")
        }
        var desc = dnnl_matmul_desc_t()
        var s = src.md, w = weights.md, d = dst.md
        var status: dnnl_status_t
        if var b = bias?.md {
            status = dnnl_matmul_desc_init(&desc, &s, &w, &b, &d)
        } else {
            status = dnnl_matmul_desc_init(&desc, &s, &w, nil, &d)
        }
        guard status == dnnl_success else { return nil }
        var pd: dnnl_primitive_desc_t?
        OneDNN.prepareThreads()
        guard dnnl_primitive_desc_create(&pd, &desc, attr, OneDNN.engine, nil) == dnnl_success, let pd else { return nil }
        var prim: dnnl_primitive_t?
        guard dnnl_primitive_create(&prim, pd) == dnnl_success, let prim else {
            dnnl_primitive_desc_destroy(pd)
            return nil
        }
        self.pd = pd
        primitive = prim
        self.src = MatrixDesc(dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0).pointee)
        self.weights = MatrixDesc(dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0).pointee)
        self.dst = MatrixDesc(dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0).pointee)
        self.bias = bias
        scratchpadBytes = MatrixDesc(dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0).pointee).byteCount
        var impl: UnsafePointer<CChar>?
        _ = withUnsafeMutablePointer(to: &impl) { p in
            dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, UnsafeMutableRawPointer(p))
        }
        implementation = impl.map { String(cString: $0) } ?? "unknown"
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(pd)
    }

    /// Runs on the calling thread's behalf (oneDNN's own threads unless called inside a Parallel body).
    /// `scratch` must hold `scratchpadBytes` (nil allocates one for this call).
    func execute(src s: UnsafeRawPointer, weights w: UnsafeRawPointer, bias b: UnsafePointer<Float>? = nil,
                 dst d: UnsafeMutableRawPointer, scratch: UnsafeMutableRawPointer? = nil) {
        OneDNN.prepareThreads()
        var owned: UnsafeMutableRawPointer?
        if scratchpadBytes > 0 && scratch == nil {
            owned = UnsafeMutableRawPointer.allocate(byteCount: scratchpadBytes, alignment: 64)
        }
        defer { owned?.deallocate() }
        var args: [dnnl_exec_arg_t] = []
        var mems: [dnnl_memory_t?] = []
        func add(_ arg: Int32, _ desc: MatrixDesc, _ ptr: UnsafeRawPointer) {
            var m: dnnl_memory_t?
            var md = desc.md
            OneDNN.check(dnnl_memory_create(&m, &md, OneDNN.engine, UnsafeMutableRawPointer(mutating: ptr)), "memory_create")
            mems.append(m)
            args.append(dnnl_exec_arg_t(arg: arg, memory: m))
        }
        add(DNNL_ARG_SRC, src, s)
        add(DNNL_ARG_WEIGHTS, weights, w)
        add(DNNL_ARG_DST, dst, d)
        if let bias, let b { add(DNNL_ARG_BIAS, bias, b) }
        if scratchpadBytes > 0 {
            add(DNNL_ARG_SCRATCHPAD, MatrixDesc(dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0).pointee),
                scratch.map { UnsafeRawPointer($0) } ?? UnsafeRawPointer(owned!))
        }
        defer { for m in mems { dnnl_memory_destroy(m) } }
        var stream: dnnl_stream_t?
        OneDNN.check(dnnl_stream_create(&stream, OneDNN.engine, dnnl_stream_default_flags.rawValue), "stream_create")
        defer { dnnl_stream_destroy(stream) }
        OneDNN.check(dnnl_primitive_execute(primitive, stream, Int32(args.count), args), "matmul execute (\(implementation))")
        OneDNN.check(dnnl_stream_wait(stream), "stream_wait")
    }
}

// MARK: - Reorder

enum OneDNNReorder {
    /// Copies `from` (layout `source`) into `to` (layout `target`), converting data types (f32 → bf16 rounds
    /// to nearest even) and blocking as the descriptors say.
    static func run(_ source: MatrixDesc, _ from: UnsafeRawPointer, _ target: MatrixDesc, _ to: UnsafeMutableRawPointer) {
        OneDNN.prepareThreads()
        var s = source.md, t = target.md
        var pd: dnnl_primitive_desc_t?
        OneDNN.check(dnnl_reorder_primitive_desc_create(&pd, &s, OneDNN.engine, &t, OneDNN.engine, nil), "reorder_primitive_desc_create")
        defer { dnnl_primitive_desc_destroy(pd) }
        var prim: dnnl_primitive_t?
        OneDNN.check(dnnl_primitive_create(&prim, pd), "reorder primitive_create")
        defer { dnnl_primitive_destroy(prim) }
        var ms: dnnl_memory_t?, mt: dnnl_memory_t?
        OneDNN.check(dnnl_memory_create(&ms, &s, OneDNN.engine, UnsafeMutableRawPointer(mutating: from)), "memory_create")
        OneDNN.check(dnnl_memory_create(&mt, &t, OneDNN.engine, to), "memory_create")
        defer { dnnl_memory_destroy(ms); dnnl_memory_destroy(mt) }
        var stream: dnnl_stream_t?
        OneDNN.check(dnnl_stream_create(&stream, OneDNN.engine, dnnl_stream_default_flags.rawValue), "stream_create")
        defer { dnnl_stream_destroy(stream) }
        let args = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: ms), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: mt)]
        OneDNN.check(dnnl_primitive_execute(prim, stream, 2, args), "reorder execute")
        OneDNN.check(dnnl_stream_wait(stream), "stream_wait")
    }
}
