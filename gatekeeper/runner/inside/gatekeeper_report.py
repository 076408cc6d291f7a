"""Loaded into the sandboxed pytest by the gate (`-p gatekeeper_report`, from a read-only
folder on PYTHONPATH). A project's own configuration may send the JUnit report elsewhere
(a conftest that sets `config.option.xmlpath`): the report is then copied to the path the
gate asked for. With GATEKEEPER_ONLY naming a file of test ids (as the JUnit report names
them, `classname::name`), only those tests run: the gate's re-run of new failures, whatever
paths and options the suite's command line holds. Runs with the project's interpreter, so it
keeps to old Python and pytest."""

import os
import re
import shutil

import pytest

_asked = []


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    _asked.append(getattr(config.option, "xmlpath", None))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    asked = _asked[0] if _asked else None
    written = getattr(session.config.option, "xmlpath", None)
    if not asked or not written or os.path.abspath(written) == os.path.abspath(asked):
        return
    if os.path.isfile(written):
        shutil.copyfile(written, asked)


def _junit_id(nodeid):
    """`tests/test_x.py::TestA::test_b[1]` as the JUnit report names it:
    `tests.test_x.TestA::test_b[1]`."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]) + "::" + names[-1]


def pytest_collection_modifyitems(config, items):
    only = os.environ.get("GATEKEEPER_ONLY")
    if not only:
        return
    with open(only) as handle:
        wanted = set(line.strip() for line in handle if line.strip())
    kept = [item for item in items if _junit_id(item.nodeid) in wanted]
    dropped = [item for item in items if _junit_id(item.nodeid) not in wanted]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = kept
