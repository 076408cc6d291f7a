"""Pipenv projects: Pipfile.lock's pins (or the Pipfile's lines) installed, its Python used."""

import json

from factories import policy, write_tree

from gatekeeper.core.pipenv import lock_requirements, pipfile_requirements, python_version
from gatekeeper.runner.sandbox import Limits
from gatekeeper.runner.testrun import run_tests

LOCK = {"_meta": {"requires": {"python_version": "3.12"}},
        "default": {"six": {"hashes": ["sha256:00"], "index": "pypi", "version": "==1.16.0",
                            "markers": "python_version >= '3.6'"},
                    "widget": {"git": "https://github.com/example/widget.git", "ref": "abc"},
                    "requests": {"extras": ["socks"], "version": "==2.32.3"}},
        "develop": {"pytest": {"version": "==8.3.4"}, "Six": {"version": "==1.17.0"},
                    "bad name; rm": {"version": "==1"}, "odd": {"version": "$(id)"}}}


def test_a_lock_gives_exact_pins_with_markers_and_names_what_is_not_on_the_index():
    lines, left = lock_requirements(LOCK)
    assert lines == ["six==1.16.0 ; python_version >= '3.6'", "requests[socks]==2.32.3",
                     "pytest==8.3.4"]
    assert left == ["widget", "bad name; rm", "odd"]
    assert python_version({}, LOCK) == "3.12"


def test_a_pipfile_alone_gives_its_lines():
    pipfile = {"packages": {"django": "*", "six": ">=1.16", "local": {"path": "."}},
               "dev-packages": {"pytest": {"version": "*", "extras": ["testing"]}},
               "requires": {"python_version": "3.11"}}
    assert pipfile_requirements(pipfile) == (["django", "six>=1.16", "pytest[testing]"],
                                             ["local"])
    assert python_version(pipfile, {}) == "3.11"


def test_a_pipenv_project_is_set_up_from_its_lock_on_its_python(tmp_path, wheel_cache):
    lock = {"_meta": {"requires": {"python_version": "3.12"}},
            "default": {"six": {"version": "==1.16.0"}}, "develop": {"pytest": {"version": "*"}}}
    root = write_tree(tmp_path, {
        "Pipfile": '[packages]\nsix = "*"\n\n[requires]\npython_version = "3.12"\n',
        "Pipfile.lock": json.dumps(lock),
        "app.py": "import six\n\n\ndef shout(x):\n    return six.ensure_str(x).upper()\n",
        "tests/test_app.py": "import sys\n\nimport six\n\nfrom app import shout\n\n\n"
                             "def test_it():\n    assert shout(b'a') == 'A'\n"
                             "    assert six.__version__ == '1.16.0'\n"
                             "    assert sys.version_info[:2] == (3, 12)\n",
        "pytest.ini": "[pytest]\npythonpath = .\n"})
    limits = Limits(wall_seconds=300, cpu_seconds=300, memory_bytes=2 * 1024**3, processes=128)
    result = run_tests(root, policy(), wheel_cache, limits)
    assert result.status == "passed", result.summary
    assert "Pipfile" in result.summary
