import CMLXPrim

/// A failed libmlxprim call: the status code it returned and the library's message.
///
/// Every call into the library goes through `check(_:)` below, so this file is the one
/// place where status codes become Swift errors.
public struct MLXPrimError: Error, Equatable, CustomStringConvertible {
    /// The status codes of `include/mlxprim.h`, with the same values.
    public enum Status: Int32, Sendable {
        case ok = 0                   // MLXP_OK
        case invalidArgument = 1      // MLXP_ERR_INVALID_ARGUMENT
        case shapeMismatch = 2        // MLXP_ERR_SHAPE_MISMATCH
        case unsupportedDtype = 3     // MLXP_ERR_UNSUPPORTED_DTYPE
        case outOfMemory = 4          // MLXP_ERR_OUT_OF_MEMORY
        case capacityExhausted = 5    // MLXP_ERR_CAPACITY_EXHAUSTED
        case invalidHandle = 6        // MLXP_ERR_INVALID_HANDLE
        case notFound = 7             // MLXP_ERR_NOT_FOUND
        case cancelled = 8            // MLXP_ERR_CANCELLED
        case `internal` = 9           // MLXP_ERR_INTERNAL
    }

    public let status: Status
    /// What went wrong, as the library (or the binding) described it; never empty.
    public let message: String

    public init(status: Status, message: String) {
        self.status = status
        self.message = message
    }

    public var description: String {
        "\(status) (\(status.rawValue)): \(message)"
    }
}

/// Throws the error for a status other than MLXP_OK, with this thread's mlxp_last_error().
func check(_ code: mlxp_status) throws {
    if code == Int32(MLXP_OK) {
        return
    }
    var message = String(cString: mlxp_last_error())
    if message.isEmpty {
        var text: UnsafePointer<CChar>?
        if mlxp_status_string(code, &text) == Int32(MLXP_OK), let text {
            message = String(cString: text)
        }
    }
    guard let status = MLXPrimError.Status(rawValue: code) else {
        // A code added by a newer library than this binding knows.
        throw MLXPrimError(status: .internal, message: "status \(code): \(message)")
    }
    throw MLXPrimError(status: status, message: message)
}

/// The binding's own check that a Swift buffer holds exactly the elements `shape` names.
/// The library cannot see a buffer's length, so the binding checks lengths (and works out
/// the shapes of the outputs it allocates); every other shape rule is the library's.
/// Negative sizes are left to the library, which rejects them.
func checkCount(_ count: Int, _ name: String, shape: [Int]) throws {
    guard shape.allSatisfy({ $0 >= 0 }) else {
        return
    }
    let product = try elementCount(shape, name)
    guard count == product else {
        throw MLXPrimError(
            status: .shapeMismatch,
            message: "\(name) has \(count) elements but shape \(shape) needs \(product)")
    }
}
