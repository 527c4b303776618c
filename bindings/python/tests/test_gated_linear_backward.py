"""gated_linear_backward against a float64 chain rule, itself checked by central finite
differences of the float64 forward pass."""

import numpy as np
import pytest

import mlxprim
from mlxprim._tensor import as_tensor
from _ref import BF16, U32, bits, data, f64
from test_activations import KINDS, act, dact
from test_errors import lib_error

F32 = np.float32
F16 = np.float16


def forward64(x, wg, wu, kind):
    return act(kind, x @ wg.T) * (x @ wu.T)


def backward_ref(x, wg, wu, dout, kind):
    """(dx, dw_gate, dw_up) in float64 from the chain rule, with x and dout flattened to
    rows [R, in] and [R, hidden]; dx comes back in x's shape."""
    x, wg, wu, dout = f64(x), f64(wg), f64(wu), f64(dout)
    x2, d2 = x.reshape(-1, x.shape[-1]), dout.reshape(-1, wg.shape[0])
    gate, up = x2 @ wg.T, x2 @ wu.T
    dgate = d2 * up * dact(kind, gate)
    dup = d2 * act(kind, gate)
    dx = dgate @ wg + dup @ wu
    return dx.reshape(x.shape), dgate.T @ x2, dup.T @ x2


def numeric_grad(f, t, step=1e-6):
    """Central differences of the scalar f at every element of t (float64)."""
    grad = np.zeros_like(t)
    for idx in np.ndindex(t.shape):
        tp, tm = t.copy(), t.copy()
        tp[idx] += step
        tm[idx] -= step
        grad[idx] = (f(tp) - f(tm)) / (2 * step)
    return grad


@pytest.mark.parametrize("kind", KINDS)
def test_reference_matches_finite_differences(kind):
    rng = np.random.default_rng(7)
    x, dout = rng.standard_normal((3, 5)), rng.standard_normal((3, 4))
    wg, wu = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    dx, dwg, dwu = backward_ref(x, wg, wu, dout, kind)
    # Step 1e-6 in float64: truncation ~1e-12 and cancellation ~1e-10 relative, so
    # 1e-6 relative (+1e-7 absolute) separates a correct formula from a wrong one.
    tol = dict(rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        dx, numeric_grad(lambda t: (forward64(t, wg, wu, kind) * dout).sum(), x), **tol)
    np.testing.assert_allclose(
        dwg, numeric_grad(lambda t: (forward64(x, t, wu, kind) * dout).sum(), wg), **tol)
    np.testing.assert_allclose(
        dwu, numeric_grad(lambda t: (forward64(x, wg, t, kind) * dout).sum(), wu), **tol)


# Error bound, first order, from the header's float32 arithmetic (u = U32 = 2^-24):
# - gate and up are float32 dot products of length `in`: |error| <= (in+2) u (|x| @ |w|^T)
#   (Higham eq. 3.5; the half-precision inputs are exact in float32).
# - dgate = dout * up * act'(gate): |act'| <= L1 = 1.2 and |act''| <= L2 = 1.0 for all
#   three kinds (maxima 1.129 and 0.798), and act, act' evaluated in float32 err by at most
#   16 u (1 + |gate|) (exp, erf, tanh within a few ulp; the products of size |gate|).
# - dx = dgate @ w_gate + dup @ w_up and dw = dgate^T @ x add the propagated error through
#   |w| or |x| and their own float32 sums: (n+3) u times the sum of |terms| for n terms.
# - The single rounding into the output dtype: at most half an ulp, i.e. a relative
#   2^-24 (float32), 2^-11 (float16), 2^-8 (bfloat16) of |ref| + bound, plus 2^-25
#   absolute for float16 subnormals (2^-24 allowed).
# A wrong formula is off by O(|ref|), thousands of times this bound.
OUT_ULP = {np.dtype(F32): U32, np.dtype(F16): 2.0**-11, BF16: 2.0**-8}
L1, L2 = 1.2, 1.0


def bounds(x, wg, wu, dout, kind):
    """Per-element error bounds for (dx, dw_gate, dw_up) before the output rounding."""
    x, wg, wu, dout = f64(x), f64(wg), f64(wu), f64(dout)
    x2, d2 = np.abs(x.reshape(-1, x.shape[-1])), np.abs(dout.reshape(-1, wg.shape[0]))
    n_in, rows, hidden = x.shape[-1], x2.shape[0], wg.shape[0]
    ag, au = np.abs(wg), np.abs(wu)
    gate, up = x.reshape(-1, n_in) @ wg.T, x.reshape(-1, n_in) @ wu.T
    eg, eu = (n_in + 2) * U32 * (x2 @ ag.T), (n_in + 2) * U32 * (x2 @ au.T)
    fe = 16 * U32 * (1 + np.abs(gate))  # float32 evaluation of act and act'
    dgate_abs = d2 * np.abs(up) * np.abs(dact(kind, gate))
    dup_abs = d2 * np.abs(act(kind, gate))
    e_dgate = d2 * (L1 * eu + L2 * (np.abs(up) + eu) * eg + (np.abs(up) + eu) * fe)
    e_dup = d2 * (L1 * eg + fe)
    e_dx = (e_dgate @ ag + e_dup @ au
            + (hidden + 3) * U32 * ((dgate_abs + e_dgate) @ ag + (dup_abs + e_dup) @ au))
    e_dwg = e_dgate.T @ x2 + (rows + 3) * U32 * ((dgate_abs + e_dgate).T @ x2)
    e_dwu = e_dup.T @ x2 + (rows + 3) * U32 * ((dup_abs + e_dup).T @ x2)
    return e_dx.reshape(x.shape), e_dwg, e_dwu


def assert_grad(got, ref, bound, dtype):
    got = np.asarray(got)
    assert got.dtype == dtype and got.shape == ref.shape
    bound = bound + OUT_ULP[np.dtype(dtype)] * (np.abs(ref) + bound) + 1e-30
    if np.dtype(dtype) == np.dtype(F16):
        bound = bound + 2.0**-24
    err = np.abs(f64(got) - ref)
    assert (err <= bound).all(), f"max excess {np.max(err - bound)}"


def check_all(got, x, wg, wu, dout, kind, dtypes):
    refs = backward_ref(x, wg, wu, dout, kind)
    bnds = bounds(x, wg, wu, dout, kind)
    for g, r, b, dt in zip(got, refs, bnds, dtypes):
        assert_grad(g, r, b, dt)


def inputs(lead, n_in, hidden, dtype, wdtype=None, seed=0):
    """x [*lead, in], w_gate and w_up [hidden, in] and dout [*lead, hidden]; scales put
    gate around +-2, across the activations' curved region."""
    wdtype = dtype if wdtype is None else wdtype
    x = data(lead + (n_in,), dtype, seed=seed, scale=1.0)
    wg = data((hidden, n_in), wdtype, seed=seed + 1, scale=2.0 / np.sqrt(n_in))
    wu = data((hidden, n_in), wdtype, seed=seed + 2, scale=2.0 / np.sqrt(n_in))
    dout = data(lead + (hidden,), dtype, seed=seed + 3, scale=1.0)
    return x, wg, wu, dout


# --- results ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lead", [(), (5,), (2, 3)], ids=["1d", "2d", "3d"])
def test_float32(kind, lead):
    x, wg, wu, dout = inputs(lead, 37, 23, F32, seed=len(lead))
    got = mlxprim.gated_linear_backward(x, wg, wu, dout, kind)
    check_all(got, x, wg, wu, dout, kind, (F32, F32, F32))


def test_default_activation_is_silu():
    x, wg, wu, dout = inputs((4,), 19, 7, F32, seed=3)
    got = mlxprim.gated_linear_backward(x, wg, wu, dout)
    want = mlxprim.gated_linear_backward(x, wg, wu, dout, activation="silu")
    for a, b in zip(got, want):
        assert (bits(a) == bits(b)).all()
    check_all(got, x, wg, wu, dout, "silu", (F32, F32, F32))


@pytest.mark.parametrize("kind", KINDS)
def test_bfloat16(kind):
    x, wg, wu, dout = inputs((3, 4), 45, 29, BF16, seed=11)
    got = mlxprim.gated_linear_backward(x, wg, wu, dout, kind)
    check_all(got, x, wg, wu, dout, kind, (BF16, BF16, BF16))


def test_default_dtypes_follow_x_and_weights():
    # Each tensor has its own dtype: float32 x and dout, bfloat16 w_gate, float16 w_up.
    x, wg, _, dout = inputs((6,), 33, 17, F32, wdtype=BF16, seed=12)
    wu = data((17, 33), F16, seed=13, scale=2.0 / np.sqrt(33))
    got = mlxprim.gated_linear_backward(x, wg, wu, dout, "gelu")
    check_all(got, x, wg, wu, dout, "gelu", (F32, BF16, F16))


@pytest.mark.parametrize("kind", KINDS)
def test_float16_outputs(kind):
    x, wg, wu, dout = inputs((5, 2), 21, 11, BF16, seed=14)
    dx = np.full(x.shape, 9, F16)
    dwg, dwu = np.full(wg.shape, 9, F16), np.full(wu.shape, 9, F16)
    got = mlxprim.gated_linear_backward(x, wg, wu, dout, kind, dx=dx, dw_gate=dwg,
                                        dw_up=dwu)
    assert got[0] is dx and got[1] is dwg and got[2] is dwu
    check_all(got, x, wg, wu, dout, kind, (F16, F16, F16))


def test_strided_inputs_and_outputs():
    kind = "gelu_tanh"
    base_x = data((14, 3 * 27), F32, seed=15, scale=1.0)
    x = base_x[::2, 1::3]  # [7, 27], neither axis contiguous
    assert not x.flags.c_contiguous
    wg = data((27, 13), F32, seed=16, scale=0.4).T  # [13, 27], transposed storage
    wu = data((13, 27), F32, seed=17, scale=0.4)
    dout = data((7, 26), F32, seed=18, scale=1.0)[:, ::2]
    buf = np.zeros((7, 54), F32)
    dx = buf[:, ::2]
    got = mlxprim.gated_linear_backward(x, wg, wu, dout, kind, dx=dx)
    assert got[0] is dx
    assert (buf[:, 1::2] == 0).all()  # the gaps between dx's elements are left alone
    check_all(got, x, wg, wu, dout, kind, (F32, F32, F32))
    # The same bits as from contiguous copies.
    want = mlxprim.gated_linear_backward(np.ascontiguousarray(x), np.ascontiguousarray(wg),
                                         wu, np.ascontiguousarray(dout), kind)
    for a, b in zip(got, want):
        assert (bits(a) == bits(b)).all()


def test_only_some_gradients():
    kind = "silu"
    x, wg, wu, dout = inputs((9,), 30, 12, F32, seed=19)
    full = mlxprim.gated_linear_backward(x, wg, wu, dout, kind)
    dx, dwg, dwu = mlxprim.gated_linear_backward(x, wg, wu, dout, kind, need_dw=False)
    assert dwg is None and dwu is None
    assert (bits(dx) == bits(full[0])).all()
    dx, dwg, dwu = mlxprim.gated_linear_backward(x, wg, wu, dout, kind, need_dx=False)
    assert dx is None
    assert (bits(dwg) == bits(full[1])).all() and (bits(dwu) == bits(full[2])).all()
    # A given array is written even when its group is not needed: dw_up alone.
    out = np.full(wu.shape, 9, F32)
    dx, dwg, dwu = mlxprim.gated_linear_backward(x, wg, wu, dout, kind, need_dx=False,
                                                 need_dw=False, dw_up=out)
    assert dx is None and dwg is None and dwu is out
    assert (bits(dwu) == bits(full[2])).all()
    assert mlxprim.gated_linear_backward(x, wg, wu, dout, kind, need_dx=False,
                                         need_dw=False) == (None, None, None)
    check_all(full, x, wg, wu, dout, kind, (F32, F32, F32))


def test_empty_batch_gives_zero_weight_gradients():
    x, wg, wu, dout = inputs((0,), 8, 5, F32)
    dx, dwg, dwu = mlxprim.gated_linear_backward(x, wg, wu, dout)
    assert dx.shape == (0, 8)
    assert (dwg == 0).all() and (dwu == 0).all()  # a sum over no rows


@pytest.mark.parametrize("dtype", [F32, BF16], ids=["f32", "bf16"])
def test_bit_identical_for_1_and_2_threads(dtype):
    x, wg, wu, dout = inputs((3, 97), 203, 130, dtype, seed=20)
    before = mlxprim.get_num_threads()
    try:
        mlxprim.set_num_threads(1)
        one = mlxprim.gated_linear_backward(x, wg, wu, dout, "gelu")
        mlxprim.set_num_threads(2)
        two = mlxprim.gated_linear_backward(x, wg, wu, dout, "gelu")
    finally:
        mlxprim.set_num_threads(before)
    assert mlxprim.get_num_threads() == before
    for a, b in zip(one, two):
        assert (bits(a) == bits(b)).all()
    check_all(one, x, wg, wu, dout, "gelu", (dtype, dtype, dtype))


# --- errors: the documented status, and nothing written ---------------------------------

def sentinels(x, wg):
    """Output arrays filled with a marker, and a check that they still hold it."""
    outs = (np.full(x.shape, 7, F32), np.full(wg.shape, 7, F32), np.full(wg.shape, 7, F32))

    def untouched():
        return all((o == 7).all() for o in outs)
    return outs, untouched


def test_unknown_activation():
    x, wg, wu, dout = inputs((3,), 8, 4, F32)
    (dx, dwg, dwu), untouched = sentinels(x, wg)
    with pytest.raises(mlxprim.InvalidArgumentError, match="unknown kind 'relu'"):
        mlxprim.gated_linear_backward(x, wg, wu, dout, "relu", dx=dx, dw_gate=dwg,
                                      dw_up=dwu)
    assert untouched()
    # The library's own check of the code, past the binding's name lookup.
    ins = [as_tensor(a, "in") for a in (x, wg, wu, dout)]
    outs = [as_tensor(a, "out", writable=True) for a in (dx, dwg, dwu)]
    for code in (0, 4, -1):
        st = mlxprim._lib.lib.mlxp_gated_linear_backward(
            *(t.ref for t in ins), code, *(t.ref for t in outs))
        assert st == mlxprim.InvalidArgumentError.status
        assert "activation" in mlxprim._lib.last_error()
    assert untouched()


def test_shape_mismatch():
    x, wg, wu, dout = inputs((3,), 8, 4, F32)
    (dx, dwg, dwu), untouched = sentinels(x, wg)
    cases = [
        dict(w_up=data((5, 8), F32)),                     # hidden differs from w_gate's
        dict(w_up=data((4, 9), F32)),                     # in differs
        dict(dout=data((3, 5), F32)),                     # dout's last dim is not hidden
        dict(dout=data((2, 4), F32)),                     # dout's rows are not x's
        dict(w_gate=data((4, 7), F32), w_up=data((4, 7), F32)),  # in differs from x's
    ]
    for bad in cases:
        args = dict(x=x, w_gate=wg, w_up=wu, dout=dout) | bad
        with pytest.raises(mlxprim.ShapeMismatchError) as e:
            mlxprim.gated_linear_backward(**args, dx=dx, dw_gate=dwg, dw_up=dwu)
        lib_error(e, mlxprim.ShapeMismatchError)
    with pytest.raises(mlxprim.ShapeMismatchError) as e:  # a wrong output shape
        mlxprim.gated_linear_backward(x, wg, wu, dout, dx=dx, dw_gate=dwg,
                                      dw_up=np.full((4, 9), 7, F32))
    lib_error(e, mlxprim.ShapeMismatchError)
    assert untouched()


def test_overlap():
    x, wg, wu, dout = inputs((3,), 8, 4, F32)
    buf = data((4, 8), F32, seed=30)
    before = buf.copy()
    xs = buf[:3]
    (dx, dwg, dwu), untouched = sentinels(x, wg)
    cases = [
        (dict(x=xs), dict(dx=buf[1:])),                   # dx overlaps x
        (dict(x=xs), dict(dx=xs)),                        # dx is x
        (dict(), dict(dw_gate=wg)),                       # dw_gate is an input
        (dict(), dict(dx=np.full((3, 8), 7, F32), dw_up=dwg)),  # two outputs share memory
    ]
    for ins, outs in cases:
        args = dict(x=x, w_gate=wg, w_up=wu, dout=dout) | ins
        outs = dict(dx=dx, dw_gate=dwg, dw_up=dwu) | outs
        with pytest.raises(mlxprim.InvalidArgumentError) as e:
            mlxprim.gated_linear_backward(**args, **outs)
        lib_error(e, mlxprim.InvalidArgumentError)
    assert (bits(buf) == bits(before)).all()
    assert untouched()


def test_unsupported_dtype():
    x, wg, wu, dout = inputs((3,), 8, 4, F32)
    (dx, dwg, dwu), untouched = sentinels(x, wg)
    with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
        mlxprim.gated_linear_backward(x, wg, wu, dout, dx=np.zeros((3, 8), np.int32),
                                      dw_gate=dwg, dw_up=dwu)
    lib_error(e, mlxprim.UnsupportedDtypeError)
    with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
        mlxprim.gated_linear_backward(x.astype(np.int32), wg, wu, dout, dx=dx, dw_gate=dwg,
                                      dw_up=dwu)
    lib_error(e, mlxprim.UnsupportedDtypeError)
    assert untouched()


def test_missing_input():
    x, wg, wu, dout = inputs((3,), 8, 4, F32)
    (dx, dwg, dwu), untouched = sentinels(x, wg)
    with pytest.raises(mlxprim.InvalidArgumentError) as e:
        mlxprim.gated_linear_backward(x, wg, None, dout, dx=dx, dw_gate=dwg, dw_up=dwu)
    lib_error(e, mlxprim.InvalidArgumentError)
    assert untouched()
