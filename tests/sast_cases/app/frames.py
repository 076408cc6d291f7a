"""Product code that reaches into its caller or the module table (rule: runner-reached-from-code)."""
import inspect
import sys


def plant():
    # ruleid: runner-reached-from-code
    frame = sys._getframe(1)
    frame.f_globals["pytest_plugins"] = ["forge"]


def walk():
    # ruleid: runner-reached-from-code
    frame = inspect.currentframe()
    # ruleid: runner-reached-from-code
    return frame.f_back


def swap(module):
    # ruleid: runner-reached-from-code
    sys.modules["_pytest.junitxml"] = module


def reads(name):
    # ok: runner-reached-from-code
    return sys.modules.get(name)
