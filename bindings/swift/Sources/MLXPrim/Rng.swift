import CMLXPrim

/// A counter-based random generator (Philox-4x32-10, `mlxp_rng`): the stream is a pure
/// function of the seed, so the same seed gives the same samples on every machine.
///
/// The generator is released when the object is. Calls on one generator are serialized by
/// the library, so it may be shared between threads.
public final class Rng: @unchecked Sendable {
    private let handle: OpaquePointer

    /// A generator positioned at the start of the stream for `seed`.
    public init(seed: UInt64) throws {
        var handle: OpaquePointer?
        try check(mlxp_rng_create(seed, &handle))
        guard let handle else {
            throw MLXPrimError(status: .internal, message: "mlxp_rng_create returned no handle")
        }
        self.handle = handle
    }

    deinit {
        // A live handle owned by this object alone: destroy cannot fail here.
        mlxp_rng_destroy(handle)
    }

    /// `count` uniform samples in [0, 1) (a Float16 or BFloat16 sample can round up to 1),
    /// advancing the stream by ceil(count / 4) blocks.
    /// - Throws: `.invalidArgument` for a negative count.
    public func uniform<T: MLXPrimElement>(count: Int, as _: T.Type = Float.self) throws -> [T] {
        // A negative count is passed on as the tensor's size, for the library to reject.
        var samples = [T](repeating: 0, count: max(count, 0))
        try samples.withUnsafeMutableBufferPointer { buffer in
            try fill(buffer, count: count)
        }
        return samples
    }

    /// Fills `buffer` with uniform samples in [0, 1), in order.
    public func fill<T: MLXPrimElement>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
        try fill(buffer, count: buffer.count)
    }

    /// Fills `array` with uniform samples in [0, 1), in order.
    public func fill<T: MLXPrimElement>(_ array: inout [T]) throws {
        try array.withUnsafeMutableBufferPointer { try fill($0) }
    }

    private func fill<T: MLXPrimElement>(
        _ buffer: UnsafeMutableBufferPointer<T>, count: Int
    ) throws {
        try withDims([count]) { dims in
            var out = tensor(buffer.baseAddress, of: T.self, shape: dims)
            try check(mlxp_rng_uniform(handle, &out))
        }
    }
}
