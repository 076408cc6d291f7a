"""Loaded into the sandboxed pytest by the gate (`-p gatekeeper_report`, from a read-only
folder on PYTHONPATH). A project's own configuration may send the JUnit report elsewhere
(a conftest that sets `config.option.xmlpath`): the report is then copied to the path the
gate asked for. With GATEKEEPER_ONLY naming a file of test ids (as the JUnit report names
them, `classname::name`), only those tests run: the gate's re-run of new failures, whatever
paths and options the suite's command line holds. Runs with the project's interpreter, so it
keeps to old Python and pytest."""

import base64
import json
import os
import re
import shutil
import sys

import pytest

_asked = []


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    _asked.append(getattr(config.option, "xmlpath", None))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    asked = _asked[0] if _asked else None
    written = getattr(session.config.option, "xmlpath", None)
    if asked and written and os.path.abspath(written) != os.path.abspath(asked) and \
            os.path.isfile(written):
        shutil.copyfile(written, asked)
    if asked and os.path.isfile(asked):
        with open(asked, "a") as report:  # after the root element: XML readers skip it
            report.write("\n<!-- gatekeeper-session %s -->\n" % _session(session.config))


def _session(config):
    """The plugins this session registered (pytest's own left out: they change with its
    version), each with the hooks it implements, the ones loaded from entry points, those
    whose code is installed in site-packages, and the configuration file: what the referee
    compares with the base's own run."""
    manager = config.pluginmanager
    loaded = set(p for p, _ in manager.list_plugin_distinfo())
    plugins, site = {}, []
    for name, plugin in manager.list_name_plugin():
        if plugin is None or plugin in loaded:
            continue  # blocked with -p no:NAME, or an entry point (the gate names those)
        module = getattr(plugin, "__name__", None) if hasattr(plugin, "__file__") else \
            type(plugin).__module__
        if module and module.split(".")[0] in ("_pytest", "pytest", "pluggy"):
            continue
        key = "object:" + type(plugin).__name__ if name.isdigit() else name
        callers = manager.get_hookcallers(plugin) or []
        plugins[key] = sorted(set(plugins.get(key, [])) | set(h.name for h in callers))
        where = getattr(sys.modules.get(module or ""), "__file__", None) or ""
        if "site-packages" in where.split(os.sep):
            site.append(key)
    inipath = getattr(config, "inipath", None) or getattr(config, "inifile", None)
    rootpath = getattr(config, "rootpath", None) or getattr(config, "rootdir", None)
    record = {"plugins": plugins, "site": sorted(set(site)),
              "entrypoints": sorted(manager.get_name(p) for p in loaded),
              "inifile": str(inipath) if inipath else None,
              "rootdir": str(rootpath) if rootpath else None}
    return base64.b64encode(json.dumps(record, sort_keys=True).encode()).decode()


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
