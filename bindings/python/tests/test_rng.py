import gc

import numpy as np
import pytest

import mlxprim
from _ref import BF16, bits

# ---------------------------------------------------------------------------------------
# An independent Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as
# 1, 2, 3", SC'11; Random123), written from the published algorithm.
# ---------------------------------------------------------------------------------------
M0, M1 = 0xD2511F53, 0xCD9E8D57      # round multipliers
W0, W1 = 0x9E3779B9, 0xBB67AE85      # Weyl key increments (golden ratio, sqrt(3) - 1)
MASK = 0xFFFFFFFF


def philox4x32_10(counter, key):
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
        p0, p1 = M0 * c0, M1 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK, (p0 >> 32) ^ c3 ^ k1, p0 & MASK
    return c0, c1, c2, c3


def expected_samples(seed, n):
    """Samples per the header: key = (seed low, seed high), 128-bit counter from 0 (block
    i is the counter value i, little-endian 32-bit words), 4 words per block in order,
    each word w giving (w >> 8) * 2^-24."""
    key = (seed & MASK, seed >> 32)
    words = []
    block = 0
    while len(words) < n:
        words += philox4x32_10((block & MASK, (block >> 32) & MASK, 0, 0), key)
        block += 1
    return np.array([(w >> 8) * 2.0**-24 for w in words[:n]], dtype=np.float64)


def test_python_philox_reproduces_random123_kat():
    # Random123 kat_vectors: philox4x32 10 rounds, counter 0, key 0.
    assert philox4x32_10((0, 0, 0, 0), (0, 0)) == (0x6627E8D5, 0xE169C58D,
                                                   0xBC57AC4C, 0x9B00DBD8)
    # and the all-ones vector of the same file
    assert philox4x32_10((MASK,) * 4, (MASK, MASK)) == (0x408F276D, 0x41C83B0E,
                                                         0xA20BC7C6, 0x6D5451FD)
    # and the digits-of-pi vector
    assert philox4x32_10((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
                         (0xA4093822, 0x299F31D0)) == (0xD16CFE09, 0x94FDCCEB,
                                                       0x5001E420, 0x24126EA1)


def test_known_answer_seed_0():
    with mlxprim.Rng(0) as rng:
        got = rng.uniform((4,))
    kat = [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    want = np.array([(w >> 8) * 2.0**-24 for w in kat], dtype=np.float32)
    assert (bits(got) == bits(want)).all(), (got, want)


@pytest.mark.parametrize("seed", [0, 1, 0x0123456789ABCDEF, 2**64 - 1])
def test_stream_matches_independent_philox(seed):
    with mlxprim.Rng(seed) as rng:
        got = rng.uniform((50,))
    # (w >> 8) * 2^-24 has 24 significant bits: exact in float32.
    np.testing.assert_array_equal(got.astype(np.float64), expected_samples(seed, 50))


def test_deterministic_and_distinct_seeds_differ():
    with mlxprim.Rng(1234) as a, mlxprim.Rng(1234) as b, mlxprim.Rng(1235) as c:
        ua, ub, uc = a.uniform((3, 100)), b.uniform((3, 100)), c.uniform((3, 100))
    assert (bits(ua) == bits(ub)).all()
    assert (ua != uc).mean() > 0.99


def test_values_in_unit_interval():
    with mlxprim.Rng(7) as rng:
        u = rng.uniform((100_000,))
    assert u.dtype == np.float32
    assert u.min() >= 0.0 and u.max() < 1.0
    # Mean of 1e5 uniforms has standard deviation 0.29 / 316 = 9e-4; 5 sigma for a sanity
    # check of the mapping (the exact values are checked against Philox above).
    assert abs(u.mean() - 0.5) < 5e-3


def test_stream_advances_across_calls():
    with mlxprim.Rng(99) as rng:
        first, second = rng.uniform((4,)), rng.uniform((4,))
    with mlxprim.Rng(99) as rng:
        whole = rng.uniform((8,))
    assert (bits(np.concatenate([first, second])) == bits(whole)).all()
    # A call consumes ceil(numel / 4) blocks: after 3 samples the next call starts at
    # block 1, i.e. sample 4.
    with mlxprim.Rng(99) as rng:
        rng.uniform((3,))
        after = rng.uniform((4,))
    assert (bits(after) == bits(whole[4:8])).all()


def test_fills_strided_out_in_row_major_order():
    with mlxprim.Rng(5) as rng:
        want = rng.uniform((3, 7))
    buf = np.full((6, 16), -1.0, np.float32)
    out = buf[::-2, 1:15:2]
    with mlxprim.Rng(5) as rng:
        assert rng.uniform_(out) is out
    assert (bits(out) == bits(want)).all()
    mask = np.ones(buf.shape, bool)
    mask[::-2, 1:15:2] = False
    assert (buf[mask] == -1.0).all()


@pytest.mark.parametrize("dtype", [np.float16, BF16], ids=["f16", "bf16"])
def test_half_types_are_rounded_float32_samples(dtype):
    with mlxprim.Rng(3) as rng:
        got = rng.uniform((64,), dtype=dtype)
    assert got.dtype == dtype
    want = expected_samples(3, 64).astype(np.float32).astype(dtype)
    assert (bits(got) == bits(want)).all()
    assert got.astype(np.float32).min() >= 0 and got.astype(np.float32).max() <= 1


def test_shapes_with_no_elements_and_scalars():
    with mlxprim.Rng(0) as rng:
        assert rng.uniform((0, 5)).shape == (0, 5)
        s = rng.uniform(())
    assert s.shape == () and s == np.float32(expected_samples(0, 1)[0])


def test_use_after_close_is_reported_by_the_library():
    rng = mlxprim.Rng(1)
    rng.close()
    with pytest.raises(mlxprim.InvalidHandleError) as e:
        rng.uniform((4,))
    assert e.value.status == 6
    assert e.value.message and e.value.message == mlxprim._lib.last_error()
    with pytest.raises(mlxprim.InvalidHandleError):
        rng.uniform_(np.zeros(3, np.float32))
    rng.close()  # closing twice is a no-op


def test_context_manager_closes():
    with mlxprim.Rng(2) as rng:
        rng.uniform((2,))
    with pytest.raises(mlxprim.InvalidHandleError):
        rng.uniform((2,))


def test_released_on_collection():
    for i in range(200):
        mlxprim.Rng(i).uniform((4,))
    gc.collect()


def test_bad_arguments():
    with pytest.raises(mlxprim.InvalidArgumentError):
        mlxprim.Rng(-1)
    with pytest.raises(mlxprim.InvalidArgumentError):
        mlxprim.Rng(2**64)
    with mlxprim.Rng(0) as rng:
        with pytest.raises(mlxprim.UnsupportedDtypeError, match="float64"):
            rng.uniform((3,), dtype=np.float64)
        # int32 is a tensor dtype, so the library itself refuses it for uniform.
        with pytest.raises(mlxprim.UnsupportedDtypeError) as e:
            rng.uniform((3,), dtype=np.int32)
        assert e.value.message == mlxprim._lib.last_error()
        with pytest.raises(mlxprim.InvalidArgumentError):
            rng.uniform_(None)
        # The failed calls did not advance the stream.
        assert (bits(rng.uniform((4,))) ==
                bits(expected_samples(0, 4).astype(np.float32))).all()
