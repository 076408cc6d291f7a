import pytest


# ruleid: runner-report-hook
def pytest_runtest_makereport(item, call):
    pass


# ruleid: runner-report-hook
def pytest_collection_modifyitems(config, items):
    items.clear()


# ok: runner-report-hook
def pytest_configure(config):
    config.addinivalue_line("markers", "slow: slow tests")


# ok: runner-report-hook
@pytest.fixture
def thing():
    return 1
