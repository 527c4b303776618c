import CMLXPrim

/// libmlxprim from Swift: library information, settings and the stateless operations.
///
/// Operations take Swift arrays (returning new arrays) or buffer pointers (writing into
/// caller memory, no allocation) of any `MLXPrimElement`: `Float`, `Float16` or
/// `BFloat16`. Data is row-major; `shape` lists the sizes with the reduced axis last.
/// Failures throw `MLXPrimError` with the library's status and message. Every function is
/// safe to call from any thread.
public enum MLXPrim {
    /// The loaded library's version, "MAJOR.MINOR.PATCH".
    public static var version: String {
        staticString(mlxp_version_string)
    }

    /// The loaded library's version as MAJOR * 1000000 + MINOR * 1000 + PATCH.
    public static var versionNumber: Int {
        Int(int32(mlxp_version))
    }

    /// The loaded library's ABI version; it must equal the header's MLXP_ABI_VERSION.
    public static var abiVersion: Int {
        Int(int32(mlxp_abi_version))
    }

    /// The CPU features the library detected, e.g. ["sse4.2", "avx", "avx2", "fma"];
    /// possibly empty.
    public static var cpuFeatures: [String] {
        staticString(mlxp_cpu_features).split(separator: " ").map(String.init)
    }

    /// The kernel path in use: "generic", "avx2" or "avx512" (lowered by MLXP_ISA).
    public static var cpuISA: String {
        staticString(mlxp_cpu_isa)
    }

    /// The number of worker threads parallel operations use (>= 1).
    public static var numThreads: Int {
        Int(int32(mlxp_get_num_threads))
    }

    /// Sets the worker-pool size: 1...1024, or 0 for the number of logical CPUs.
    /// Throws `.invalidArgument` for other values and leaves the setting unchanged.
    public static func setNumThreads(_ count: Int) throws {
        try check(mlxp_set_num_threads(Int32(clamping: count)))
    }

    // These queries fail only when given a NULL out-pointer, which never happens here, so
    // the properties need not throw; the status is still checked in debug builds.

    private static func staticString(
        _ query: (UnsafeMutablePointer<UnsafePointer<CChar>?>) -> mlxp_status
    ) -> String {
        var text: UnsafePointer<CChar>?
        let code = query(&text)
        assert(code == Int32(MLXP_OK))
        return text.map { String(cString: $0) } ?? ""
    }

    private static func int32(_ query: (UnsafeMutablePointer<Int32>) -> mlxp_status) -> Int32 {
        var value: Int32 = 0
        let code = query(&value)
        assert(code == Int32(MLXP_OK))
        return value
    }
}
