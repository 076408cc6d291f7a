"""Wheels fetched outside the sandbox for the interpreter the suite will run on."""

import sys

import pytest

from gatekeeper.runner.interpreters import available
from gatekeeper.runner.wheelhouse import ensure_wheelhouse

OTHER = [i for i in available() if i.version.release[:2] != sys.version_info[:2]
         and i.version.release[:2] >= (3, 8)]


@pytest.mark.skipif(not OTHER, reason="needs a second interpreter")
def test_markers_are_evaluated_for_the_suites_python_not_the_workers(wheel_cache):
    """markitdown's `standard-aifc; python_version >= "3.13"`: fetched by the worker's own
    Python, a dependency only the target needs was left out and the install failed offline."""
    target = OTHER[0]
    wanted = [f"six; python_version == '{target.short}'",
              f"iniconfig; python_version == '{sys.version_info.major}.{sys.version_info.minor}'"]
    folder = ensure_wheelhouse(wanted, wheel_cache, target.short, target.path)
    wheels = {p.name.split("-")[0].lower() for p in folder.glob("*.whl")}
    assert wheels == {"six"}
