import atexit
import os
import signal
import sys

import pytest


class Forge:
    # ruleid: runner-report-hook
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_logreport(self, report):
        yield


def test_registers(request):
    # ruleid: runner-plugin-registered
    request.config.pluginmanager.register(Forge(), "forge")


def test_exit_handlers():
    # ruleid: runner-exit-handler
    atexit.register(print)
    # ruleid: runner-exit-handler
    signal.signal(signal.SIGTERM, print)
    # ruleid: runner-exit-handler
    os._exit(0)


def test_report():
    # ruleid: runner-report-written
    os.environ["GATEKEEPER_RESULT_FD"] = "1"
    # ruleid: runner-report-written
    open("/tmp/gatekeeper-junit.xml", "w")


def test_ordinary(request, tmp_path):
    # ok: runner-plugin-registered
    request.config.getoption("verbose")
    # ok: runner-exit-handler
    sys.exit(0) if False else None
    # ok: runner-report-written
    open(tmp_path / "out.txt", "w")
    # ok: runner-report-written
    os.environ["HOME"] = "/tmp"
