import os
import re

import pytest

import mlxprim
from mlxprim import _errors

from conftest import REPO_ROOT


def header_feature_names():
    """The feature names that the header's mlxp_cpu_features promises to choose from."""
    with open(os.path.join(REPO_ROOT, "include", "mlxprim.h")) as f:
        text = f.read()
    m = re.search(r"mlxp_cpu_features —.*?out of[\s*]*\"(.*?)\"", text, flags=re.S)
    assert m, "feature list not found in the header"
    return set(m.group(1).replace("*", " ").split())


def test_versions():
    assert re.fullmatch(r"\d+\.\d+\.\d+", mlxprim.__version__)
    major, minor, patch = map(int, mlxprim.__version__.split("."))
    assert mlxprim.version_number() == major * 1_000_000 + minor * 1000 + patch
    assert mlxprim.abi_version() == mlxprim._lib.ABI_VERSION == 0


def test_cpu_features_and_isa():
    feats = mlxprim.cpu_features()
    assert isinstance(feats, list) and all(isinstance(f, str) for f in feats)
    # The header lists every name the library may report.
    allowed = header_feature_names()
    assert {"avx2", "neon"} <= allowed
    assert set(feats) <= allowed, set(feats) - allowed
    isa = mlxprim.cpu_isa()
    assert isa in ("generic", "avx2", "avx512")
    # The chosen path is one the CPU supports.
    if isa == "avx2":
        assert {"avx2", "fma"} <= set(feats)
    if isa == "avx512":
        assert "avx512f" in feats


def test_threads():
    before = mlxprim.get_num_threads()
    assert before >= 1
    try:
        mlxprim.set_num_threads(3)
        assert mlxprim.get_num_threads() == 3
        mlxprim.set_num_threads(0)  # back to the default
        assert mlxprim.get_num_threads() >= 1
        for bad in (-1, 1025):
            with pytest.raises(mlxprim.InvalidArgumentError) as e:
                mlxprim.set_num_threads(bad)
            assert e.value.message == mlxprim._lib.last_error() != ""
        # Does not fit the C int32_t: refused by the binding rather than truncated.
        with pytest.raises(mlxprim.InvalidArgumentError):
            mlxprim.set_num_threads(2**32 + 2)
        assert mlxprim.get_num_threads() >= 1
    finally:
        mlxprim.set_num_threads(before)


def test_status_strings():
    assert mlxprim.status_string(0)
    assert mlxprim.status_string(1) == "invalid argument"
    assert mlxprim.status_string(12345) == "unknown status"


@pytest.mark.parametrize("status,cls,base", [
    (1, mlxprim.InvalidArgumentError, ValueError),
    (2, mlxprim.ShapeMismatchError, ValueError),
    (3, mlxprim.UnsupportedDtypeError, TypeError),
    (4, mlxprim.OutOfMemoryError, MemoryError),
    (5, mlxprim.CapacityExhaustedError, mlxprim.MlxpError),
    (6, mlxprim.InvalidHandleError, mlxprim.MlxpError),
    (7, mlxprim.NotFoundError, LookupError),
    (8, mlxprim.CancelledError, mlxprim.MlxpError),
    (9, mlxprim.InternalError, mlxprim.MlxpError),
])
def test_status_to_exception_mapping(status, cls, base):
    e = _errors.error_for_status(status, "message text")
    assert type(e) is cls and isinstance(e, base) and isinstance(e, mlxprim.MlxpError)
    assert e.status == status and e.message == "message text" == str(e)


def test_unknown_status_gives_base_error():
    e = _errors.error_for_status(77, "odd")
    assert type(e) is mlxprim.MlxpError and e.status == 77 and e.message == "odd"


def test_public_names():
    for name in mlxprim.__all__:
        assert hasattr(mlxprim, name), name
