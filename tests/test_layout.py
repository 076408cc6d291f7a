"""The tree tells the design: contracts over every import in the package, read with ast.

- no import circles between modules, anywhere (lazy imports inside functions count too);
- the packages form layers: core < runner < scanners < github < service < cli, each
  importing only from the layers below it (and the root package's version);
- core imports no I/O module; runner never reaches github or service (credentials).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gatekeeper"
LAYERS = ["core", "runner", "scanners", "github", "service", "cli"]
IO_MODULES = {"subprocess", "socket", "shutil", "tempfile", "ctypes", "requests", "redis", "rq",
              "flask", "werkzeug", "github", "slack_sdk", "urllib.request", "http", "gunicorn",
              "multiprocessing", "asyncio", "sqlite3", "fcntl"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(name: str, path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """(gatekeeper modules, other top-level modules) that a module imports, wherever it does."""
    is_package = path.name == "__init__.py"
    ours, others = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (ours if alias.name.startswith("gatekeeper") else others).add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("gatekeeper"):
                others.add(target)
                continue
            for alias in node.names:  # `from pkg import module` imports the module
                sub = f"{target}.{alias.name}"
                ours.add(sub if sub in known else target)
    return {m for m in ours if m in known}, others


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found))[0] - {name} for name, path in found.items()}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "root"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_lives_in_a_layer():
    assert sorted(m for m in modules() if layer(m) == "root") == \
        ["gatekeeper", "gatekeeper.__main__"]


def test_layers_import_only_downwards():
    wrong = []
    for module, targets in graph().items():
        if layer(module) == "root":
            continue
        rank = LAYERS.index(layer(module))
        for target in targets:
            if layer(target) != "root" and LAYERS.index(layer(target)) > rank:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_core_is_pure_and_runner_cannot_reach_credentials():
    found = modules()
    for name, path in found.items():
        ours, others = imports(name, path, set(found))
        if layer(name) == "core":
            assert {layer(m) for m in ours} <= {"core", "root"}, name
            io = {m for m in others if m in IO_MODULES or m.split(".")[0] in IO_MODULES}
            assert io == set(), f"{name} imports {io}"
        if layer(name) == "runner":
            assert not {m for m in ours if layer(m) in ("github", "service", "cli")}, name


def test_layer_check_would_catch_an_upward_import(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("from ..service.settings import Settings\n")
    ours, _ = imports("gatekeeper.core.bad", module, set(modules()))
    assert ours == {"gatekeeper.service.settings"}
