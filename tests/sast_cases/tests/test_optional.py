import pytest

try:
    import numpy  # noqa: F401
except ImportError:
    # ok: test-skipped
    pytest.skip("numpy is an optional dependency", allow_module_level=True)


def test_uses_numpy():
    if numpy.__version__ < "1":
        # ruleid: test-skipped
        pytest.skip("too old")
    assert numpy.zeros(2).sum() == 0
