"""SECURITY.md states only what a test holds: every test it names exists, under the name it
gives, in the file it gives (`…::name` is in the file last named before it)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"`((?:tests/[\w/]+\.py)|…)?(?:::(\w+))?`")


def named_tests() -> list[tuple[str, str]]:
    """(file, test) for every `tests/x.py::test` and `…::test` in SECURITY.md, in order."""
    found, last = [], None
    for match in REFERENCE.finditer((ROOT / "SECURITY.md").read_text()):
        path, name = match.groups()
        if path and path != "…":
            last = path
        if name:
            assert last, f"{match.group(0)} names no file before it"
            found.append((last, name))
    return found


def functions(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text())
    return {node.name for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_test_security_md_names_exists_where_it_says():
    named = named_tests()
    assert len(named) >= 10  # the control: the references were found at all
    missing = [f"{path}::{name}" for path, name in named
               if not (ROOT / path).is_file() or name not in functions(path)]
    assert missing == []


def test_every_test_file_security_md_names_exists():
    files = set(re.findall(r"`(tests/[\w/]+\.py)", (ROOT / "SECURITY.md").read_text()))
    assert len(files) >= 10
    assert sorted(f for f in files if not (ROOT / f).is_file()) == []


def test_every_claim_in_the_pull_request_table_names_its_attack_test():
    text = (ROOT / "SECURITY.md").read_text()
    section = text.split("## What a pull request controls", 1)[1]
    table = section[section.index("\n| it controls"):].split("\n\n", 1)[0]
    rows = [r for r in table.splitlines() if r.startswith("| ") and not r.startswith("| it ")
            and not set(r) <= set("|- ")]
    assert len(rows) >= 8  # the control: the table was found
    assert [r[:80] for r in rows if "`tests/" not in r and "`…::" not in r] == []
