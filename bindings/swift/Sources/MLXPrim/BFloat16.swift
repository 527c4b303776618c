import CMLXPrim

/// A bfloat16 value: the upper 16 bits of an IEEE 754 binary32 (1 sign bit, 8 exponent
/// bits, 7 fraction bits), so it has Float's range with 8 significant bits.
///
/// A storage type for the library's bfloat16 tensors (DLPack code 4, MLXP_DTYPE_BFLOAT):
/// it converts to and from `Float` and does no arithmetic. Equality and hashing compare
/// bit patterns, so +0 and -0 differ and a NaN equals a NaN with the same bits.
public struct BFloat16: Hashable, Sendable {
    /// The 16 bits: sign, exponent, fraction, as the top half of a Float's bit pattern.
    public var bitPattern: UInt16

    /// The value with these bits.
    public init(bitPattern: UInt16) {
        self.bitPattern = bitPattern
    }

    /// `value` rounded to nearest, ties to even, as the library rounds: a value beyond the
    /// largest finite bfloat16 (by half an ulp or more) becomes Inf, ±Inf and ±0 stay, and
    /// a NaN stays a NaN (quiet, with its sign and the top of its payload).
    public init(_ value: Float) {
        let bits = value.bitPattern
        if value.isNaN {
            // Truncating could clear every payload bit and give Inf: set the quiet bit.
            bitPattern = UInt16(truncatingIfNeeded: bits >> 16) | 0x0040
            return
        }
        // Adding 0x7FFF rounds the dropped half up when it exceeds one half; adding the
        // kept lowest bit too makes an exact half round up only from an odd value. A carry
        // moves into the exponent: the next binade, or Inf past the largest finite value.
        let keptLowestBit = (bits >> 16) & 1
        bitPattern = UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ keptLowestBit) >> 16)
    }
}

extension Float {
    /// The bfloat16 value, exactly (every bfloat16 is a Float).
    public init(_ value: BFloat16) {
        self.init(bitPattern: UInt32(value.bitPattern) << 16)
    }
}

extension BFloat16: MLXPrimElement {
    /// bfloat16: DLPack code 4 (MLXP_DTYPE_BFLOAT), 16 bits.
    public static var mlxpDType: mlxp_dtype {
        mlxp_dtype(code: UInt8(MLXP_DTYPE_BFLOAT), bits: 16, lanes: 1)
    }
}

extension BFloat16: ExpressibleByFloatLiteral {
    /// The literal's Double value rounded once to bfloat16, as `init(_:)` rounds a Float.
    public init(floatLiteral value: Double) {
        // Round to Float "to odd" (of the two Floats around the value, the one with an odd
        // bit pattern), then to bfloat16: Float keeps 16 bits more than bfloat16, so the
        // odd bit stands for everything dropped and the result equals one direct rounding.
        var float = Float(value)
        if !float.isNaN, Double(float) != value, float.bitPattern & 1 == 0 {
            float = Double(float) > value ? float.nextDown : float.nextUp
        }
        self.init(float)
    }
}

extension BFloat16: ExpressibleByIntegerLiteral {
    /// The integer rounded to bfloat16 through Float: exact up to 256 in magnitude.
    public init(integerLiteral value: Int) {
        self.init(Float(value))
    }
}

extension BFloat16: CustomStringConvertible {
    /// The value as `Float` prints it, e.g. "0.100097656" for `0.1 as BFloat16`.
    public var description: String {
        Float(self).description
    }
}
