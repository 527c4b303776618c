import CMLXPrim

/// An element type the kernels accept from Swift: `Float`, and `Float16` where the platform
/// has it. (bfloat16 has no Swift type; use the C API for it.)
public protocol MLXPrimFloat: BinaryFloatingPoint {
    /// The element's DLPack data type as mlxp_tensor describes it.
    static var mlxpDType: mlxp_dtype { get }
}

extension Float: MLXPrimFloat {
    public static var mlxpDType: mlxp_dtype {
        mlxp_dtype(code: UInt8(MLXP_DTYPE_FLOAT), bits: 32, lanes: 1)
    }
}

// Float16 is unavailable on Intel Macs; everywhere else it is a native type.
#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
extension Float16: MLXPrimFloat {
    public static var mlxpDType: mlxp_dtype {
        mlxp_dtype(code: UInt8(MLXP_DTYPE_FLOAT), bits: 16, lanes: 1)
    }
}
#endif

/// Stands in for the base address of an empty buffer, which Swift may give as nil while the
/// library requires non-NULL data. The library never dereferences data of a tensor with a
/// zero-sized dimension, and a non-empty buffer always has a real address.
private let emptyBufferAddress = UnsafeMutableRawPointer(bitPattern: 64)!

/// A row-major CPU tensor over `data`. `shape` must stay valid while the descriptor is used.
func tensor<T: MLXPrimFloat>(
    _ data: UnsafeRawPointer?, of _: T.Type, shape: UnsafeMutableBufferPointer<Int64>
) -> mlxp_tensor {
    mlxp_tensor(
        data: UnsafeMutableRawPointer(mutating: data) ?? emptyBufferAddress,
        device: mlxp_device(device_type: Int32(MLXP_DEVICE_CPU), device_id: 0),
        ndim: Int32(clamping: shape.count),
        dtype: T.mlxpDType,
        shape: shape.baseAddress,
        strides: nil,
        byte_offset: 0)
}

/// Calls body with the shape as int64 sizes, valid for the duration of the call.
func withDims<R>(
    _ shape: [Int], _ body: (UnsafeMutableBufferPointer<Int64>) throws -> R
) rethrows -> R {
    var dims = shape.map { Int64($0) }
    return try dims.withUnsafeMutableBufferPointer { try body($0) }
}

/// Calls body with a pointer to the value, or nil when there is none (an omitted tensor).
func withOptionalPointer<T, R>(
    to value: inout T?, _ body: (UnsafeMutablePointer<T>?) throws -> R
) rethrows -> R {
    guard value != nil else {
        return try body(nil)
    }
    return try withUnsafeMutablePointer(to: &value!) { try body($0) }
}

/// Calls body with the array's elements, or nil when there is no array (an omitted input).
func withOptionalBuffer<T, R>(
    _ array: [T]?, _ body: (UnsafeBufferPointer<T>?) throws -> R
) rethrows -> R {
    guard let array else {
        return try body(nil)
    }
    return try array.withUnsafeBufferPointer { try body($0) }
}

/// Calls body with the array's mutable elements, or nil when there is no array.
func withOptionalMutableBuffer<T, R>(
    _ array: inout [T]?, _ body: (UnsafeMutableBufferPointer<T>?) throws -> R
) rethrows -> R {
    guard array != nil else {
        return try body(nil)
    }
    return try array!.withUnsafeMutableBufferPointer { try body($0) }
}
