import CMLXPrim

// Elementwise activations and gated linear units. Every array is described with its own
// length, so the library itself reports arrays of different lengths.

extension MLXPrim {
    /// act(x) elementwise, as `mlxp_activation` defines it: computed in float32, rounded
    /// once into T.
    /// - Throws: `MLXPrimError` (see the buffer variant).
    public static func activation<T: MLXPrimElement>(_ x: [T], kind: Activation) throws -> [T] {
        var out = [T](repeating: 0, count: x.count)
        try x.withUnsafeBufferPointer { x in
            try out.withUnsafeMutableBufferPointer { out in
                try activation(x, kind: kind, into: out)
            }
        }
        return out
    }

    /// act(x) written into `out`, which may be `x` itself.
    /// - Throws: `.shapeMismatch` when the lengths differ, `.invalidArgument` for a partial
    ///   overlap. On failure `out` is left unchanged.
    public static func activation<T: MLXPrimElement>(
        _ x: UnsafeBufferPointer<T>, kind: Activation, into out: UnsafeMutableBufferPointer<T>
    ) throws {
        try withTensors { t in
            try check(mlxp_activation(kind.rawValue, t.vector(x), t.vector(out)))
        }
    }

    /// dx = dy * act'(x), as `mlxp_activation_backward` defines it.
    public static func activationBackward<T: MLXPrimElement>(
        x: [T], dy: [T], kind: Activation
    ) throws -> [T] {
        var dx = [T](repeating: 0, count: x.count)
        try x.withUnsafeBufferPointer { x in
            try dy.withUnsafeBufferPointer { dy in
                try dx.withUnsafeMutableBufferPointer { dx in
                    try activationBackward(x: x, dy: dy, kind: kind, into: dx)
                }
            }
        }
        return dx
    }

    /// dx = dy * act'(x) written into `dx`, which may be `x` or `dy` itself.
    public static func activationBackward<T: MLXPrimElement>(
        x: UnsafeBufferPointer<T>, dy: UnsafeBufferPointer<T>, kind: Activation,
        into dx: UnsafeMutableBufferPointer<T>
    ) throws {
        try withTensors { t in
            try check(mlxp_activation_backward(
                kind.rawValue, t.vector(x), t.vector(dy), t.vector(dx)))
        }
    }

    /// Gated linear unit, as `mlxp_glu` defines it: act(gate) * up (SwiGLU with `.silu`,
    /// GeGLU with `.gelu` or `.geluTanh`). `gate` and `up` have the same length.
    public static func glu<T: MLXPrimElement>(gate: [T], up: [T], kind: Activation) throws -> [T] {
        var out = [T](repeating: 0, count: gate.count)
        try gate.withUnsafeBufferPointer { gate in
            try up.withUnsafeBufferPointer { up in
                try out.withUnsafeMutableBufferPointer { out in
                    try glu(gate: gate, up: up, kind: kind, into: out)
                }
            }
        }
        return out
    }

    /// act(gate) * up written into `out`, which may be `gate` or `up` itself.
    public static func glu<T: MLXPrimElement>(
        gate: UnsafeBufferPointer<T>, up: UnsafeBufferPointer<T>, kind: Activation,
        into out: UnsafeMutableBufferPointer<T>
    ) throws {
        try withTensors { t in
            try check(mlxp_glu(kind.rawValue, t.vector(gate), t.vector(up), t.vector(out)))
        }
    }

    /// Gradients of `glu`, as `mlxp_glu_backward` defines them:
    /// dgate = dout * up * act'(gate), dup = dout * act(gate).
    public static func gluBackward<T: MLXPrimElement>(
        gate: [T], up: [T], dout: [T], kind: Activation
    ) throws -> (dgate: [T], dup: [T]) {
        var dgate = [T](repeating: 0, count: gate.count)
        var dup = [T](repeating: 0, count: gate.count)
        try gate.withUnsafeBufferPointer { gate in
            try up.withUnsafeBufferPointer { up in
                try dout.withUnsafeBufferPointer { dout in
                    try dgate.withUnsafeMutableBufferPointer { dgate in
                        try dup.withUnsafeMutableBufferPointer { dup in
                            try gluBackward(
                                gate: gate, up: up, dout: dout, kind: kind, dgate: dgate, dup: dup)
                        }
                    }
                }
            }
        }
        return (dgate, dup)
    }

    /// GLU gradients written into `dgate` and `dup`: distinct buffers, each of which may be
    /// one of the inputs itself.
    public static func gluBackward<T: MLXPrimElement>(
        gate: UnsafeBufferPointer<T>, up: UnsafeBufferPointer<T>, dout: UnsafeBufferPointer<T>,
        kind: Activation, dgate: UnsafeMutableBufferPointer<T>, dup: UnsafeMutableBufferPointer<T>
    ) throws {
        try withTensors { t in
            try check(mlxp_glu_backward(
                kind.rawValue, t.vector(gate), t.vector(up), t.vector(dout), t.vector(dgate),
                t.vector(dup)))
        }
    }
}
