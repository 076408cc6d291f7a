import pytest

from app import compute


def test_compute():
    # ruleid: test-assert-true
    assert True


def test_real():
    # ok: test-assert-true
    assert compute(2) == 4


# ruleid: test-skipped
@pytest.mark.skip(reason="flaky")
def test_skipped():
    assert compute(3) == 9


# ok: test-skipped
@pytest.mark.parametrize("x", [1, 2])
def test_param(x):
    assert compute(x) == 2 * x


def test_swallow():
    # ruleid: test-swallows-errors
    try:
        assert compute(1) == 3
    except Exception:
        pass


def test_specific():
    # ok: test-swallows-errors
    with pytest.raises(ValueError):
        compute(-1)
