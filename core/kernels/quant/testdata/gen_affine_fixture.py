"""Writes affine_fixture.bin: MLX affine quantization cases for the Go tests.

Run from this folder with mlx[cpu]==0.32.4 and numpy==2.4.6:

    python3 gen_affine_fixture.py

Layout (little-endian): the 8 bytes "MLXQFIX1", a uint32 case count, then per case six
uint32 (dtype 0=float32 1=float16 2=bfloat16, bits, group, rows, cols, has_w) followed by
the raw element bits of w (only when has_w), wq (uint32 words), scales, biases and
mx.dequantize(wq, scales, biases) (all in dtype). Cases with has_w = 1 hold
mx.quantize(w); the others hold random words and scales to exercise dequantize alone.
"""

import struct

import mlx.core as mx
import numpy as np

mx.set_default_device(mx.cpu)
DTYPES = [mx.float32, mx.float16, mx.bfloat16]


def raw(a):
    """Raw little-endian bytes of an MLX array's elements."""
    if a.dtype in (mx.float16, mx.bfloat16):
        a = a.view(mx.uint16)
    return np.array(a).tobytes()


def special_rows(rng, cols):
    """Random weights plus degenerate and lopsided rows (the second row holds an
    all-zero half and a constant half, so groups up to cols/2 are degenerate)."""
    half = cols // 2
    rows = [
        rng.standard_normal(cols) * 0.05,
        np.concatenate([np.zeros(half), np.full(cols - half, 0.3)]),
        -np.abs(rng.standard_normal(cols)) * 10.0 ** rng.integers(-4, 2, cols),
        rng.choice([-1000.0, 1e-6, -1e-6, 0.5, 1000.0], cols),
    ]
    return np.stack(rows).astype(np.float32)


def main():
    rng = np.random.default_rng(20240607)
    cases = []
    # Quantize + dequantize: every dtype, both widths, every group size.
    for dt, bits, group in [
        (0, 4, 32), (0, 8, 64), (1, 4, 128), (1, 8, 32), (2, 4, 64), (2, 8, 128),
    ]:
        cols = max(64, group)  # 64 columns, or one group of 128
        w = mx.array(special_rows(rng, cols)).astype(DTYPES[dt])
        wq, s, b = mx.quantize(w, group_size=group, bits=bits)
        cases.append((dt, bits, group, w, wq, s, b))
    # Dequantize alone: random codes, scales and biases over many magnitudes.
    for dt, bits, group, cols in [(1, 4, 32, 64), (2, 8, 64, 128), (0, 4, 128, 128)]:
        rows = 2
        words = rng.integers(0, 2**32, (rows, cols * bits // 32), dtype=np.uint64)
        wq = mx.array(words.astype(np.uint32))
        shape = (rows, cols // group)
        mag = 10.0 ** rng.uniform(-4, 2, shape)
        s = mx.array((rng.standard_normal(shape) * mag).astype(np.float32)).astype(DTYPES[dt])
        b = mx.array((rng.standard_normal(shape) * mag * 8).astype(np.float32)).astype(DTYPES[dt])
        cases.append((dt, bits, group, None, wq, s, b))

    out = bytearray(b"MLXQFIX1" + struct.pack("<I", len(cases)))
    for dt, bits, group, w, wq, s, b in cases:
        deq = mx.dequantize(wq, s, b, group_size=group, bits=bits)
        assert deq.dtype == DTYPES[dt]
        rows, cols = deq.shape
        out += struct.pack("<6I", dt, bits, group, rows, cols, w is not None)
        if w is not None:
            out += raw(w)
        out += raw(wq) + raw(s) + raw(b) + raw(deq)
    with open("affine_fixture.bin", "wb") as f:
        f.write(out)
    print(f"{len(cases)} cases, {len(out)} bytes")


if __name__ == "__main__":
    main()
