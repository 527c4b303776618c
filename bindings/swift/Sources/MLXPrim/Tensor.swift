import CMLXPrim

/// An element type of the library's float tensors: `Float`, `Float16` where the platform
/// has it, and `BFloat16`. Every op takes any of them, and the library converts each
/// tensor to float32 to compute (see `include/mlxprim.h`).
public protocol MLXPrimElement: ExpressibleByIntegerLiteral {
    /// The element's DLPack data type as mlxp_tensor describes it.
    static var mlxpDType: mlxp_dtype { get }
}

/// The element types that are also Swift floating-point types (`Float`, `Float16`), for
/// code that needs arithmetic on the elements. `BFloat16` is a storage type only: it is an
/// `MLXPrimElement` but not an `MLXPrimFloat`.
public protocol MLXPrimFloat: MLXPrimElement, BinaryFloatingPoint {}

extension Float: MLXPrimFloat {
    /// float32: DLPack code 2 (MLXP_DTYPE_FLOAT), 32 bits.
    public static var mlxpDType: mlxp_dtype {
        mlxp_dtype(code: UInt8(MLXP_DTYPE_FLOAT), bits: 32, lanes: 1)
    }
}

// Float16 is unavailable on Intel Macs; everywhere else it is a native type.
#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
extension Float16: MLXPrimFloat {
    /// float16: DLPack code 2 (MLXP_DTYPE_FLOAT), 16 bits.
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
func tensor<T: MLXPrimElement>(
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

// MARK: - Descriptors for calls with many tensors

extension mlxp_dtype {
    /// Integer element types of the quantization and index tensors (DLPack codes).
    static var int8: mlxp_dtype { mlxp_dtype(code: UInt8(MLXP_DTYPE_INT), bits: 8, lanes: 1) }
    static var uint8: mlxp_dtype { mlxp_dtype(code: UInt8(MLXP_DTYPE_UINT), bits: 8, lanes: 1) }
    static var int32: mlxp_dtype { mlxp_dtype(code: UInt8(MLXP_DTYPE_INT), bits: 32, lanes: 1) }
    /// Packed int4: two elements per byte, element 2i in the low nibble.
    static var int4: mlxp_dtype { mlxp_dtype(code: UInt8(MLXP_DTYPE_INT), bits: 4, lanes: 1) }
}

/// The tensor descriptors of one library call. Each descriptor and its shape live in memory
/// the arena owns until `withTensors` returns, so a call with many tensors builds them all
/// up front instead of nesting one closure per shape.
final class TensorArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    fileprivate init() {}

    /// A row-major CPU tensor over `data` (which must outlive the call) with `shape`.
    func tensor(
        _ data: UnsafeRawPointer?, _ dtype: mlxp_dtype, _ shape: [Int]
    ) -> UnsafeMutablePointer<mlxp_tensor> {
        let dims = UnsafeMutablePointer<Int64>.allocate(capacity: max(shape.count, 1))
        for (i, size) in shape.enumerated() {
            dims[i] = Int64(size)
        }
        let descriptor = UnsafeMutablePointer<mlxp_tensor>.allocate(capacity: 1)
        descriptor.initialize(to: mlxp_tensor(
            data: UnsafeMutableRawPointer(mutating: data) ?? emptyBufferAddress,
            device: mlxp_device(device_type: Int32(MLXP_DEVICE_CPU), device_id: 0),
            ndim: Int32(clamping: shape.count),
            dtype: dtype,
            shape: dims,
            strides: nil,
            byte_offset: 0))
        allocations += [UnsafeMutableRawPointer(dims), UnsafeMutableRawPointer(descriptor)]
        return descriptor
    }

    /// A float tensor over `buffer`.
    func tensor<T: MLXPrimElement>(
        _ buffer: UnsafeBufferPointer<T>, _ shape: [Int]
    ) -> UnsafeMutablePointer<mlxp_tensor> {
        tensor(buffer.baseAddress, T.mlxpDType, shape)
    }

    /// A float tensor over `buffer`, written by the call.
    func tensor<T: MLXPrimElement>(
        _ buffer: UnsafeMutableBufferPointer<T>, _ shape: [Int]
    ) -> UnsafeMutablePointer<mlxp_tensor> {
        tensor(buffer.baseAddress, T.mlxpDType, shape)
    }

    /// A 1-D float tensor of the buffer's own length, or nil for an omitted one: the library
    /// then reports a wrong length itself.
    func vector<T: MLXPrimElement>(
        _ buffer: UnsafeBufferPointer<T>?
    ) -> UnsafeMutablePointer<mlxp_tensor>? {
        buffer.map { tensor($0, [$0.count]) }
    }

    /// A 1-D float output of the buffer's own length, or nil.
    func vector<T: MLXPrimElement>(
        _ buffer: UnsafeMutableBufferPointer<T>?
    ) -> UnsafeMutablePointer<mlxp_tensor>? {
        buffer.map { tensor($0, [$0.count]) }
    }

    fileprivate func release() {
        for allocation in allocations {
            allocation.deallocate()
        }
        allocations = []
    }
}

/// Calls body with an arena whose descriptors stay valid until body returns.
func withTensors<R>(_ body: (TensorArena) throws -> R) rethrows -> R {
    let arena = TensorArena()
    defer { arena.release() }
    return try body(arena)
}

/// The number of elements the binding allocates for an output of `shape`: 0 when a size is
/// negative (the library then rejects the shape and nothing is written); an error when the
/// product overflows.
func elementCount(_ shape: [Int], _ name: String) throws -> Int {
    guard shape.allSatisfy({ $0 >= 0 }) else {
        return 0
    }
    var product = 1
    for dim in shape {
        let (next, overflow) = product.multipliedReportingOverflow(by: dim)
        guard !overflow else {
            throw MLXPrimError(
                status: .shapeMismatch, message: "\(name): shape \(shape) has too many elements")
        }
        product = next
    }
    return product
}
