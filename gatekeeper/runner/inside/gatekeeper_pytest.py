"""The gate's own pytest launcher for the base's suite (the referee and the base's run).

Run by absolute path (`python /run/gatekeeper-pytest/gatekeeper_pytest.py ARGS`), so the
first entry of the import path is this read-only folder, never the working copy: a module
of the tree named `pytest`, `_pytest` or `pluggy` is not what starts (`python -m pytest`
would put the working folder first). The variables pytest reads come from the gate alone:
GATEKEEPER_PYTEST_ENV names the ones the gate set (autoload off, the policy's own); any
other PYTEST_* is dropped before pytest is imported. Runs with the project's interpreter
(3.8 and newer), so it keeps to old syntax.
"""

import os
import sys


def _clean_environment():
    kept = set(filter(None, os.environ.get("GATEKEEPER_PYTEST_ENV", "").split(",")))
    for name in list(os.environ):
        if name.startswith("PYTEST_") and name not in kept:
            del os.environ[name]


if __name__ == "__main__":
    _clean_environment()
    # `python -m pytest` lets the suite import the working folder's modules, as CI's run
    # does; here the folder comes last, so none of its modules shadows an installed one
    sys.path.append(os.getcwd())
    import pytest

    sys.exit(pytest.main(sys.argv[1:]))
