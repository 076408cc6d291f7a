"""How to set a project up for its tests, decided from what it declares and what its CI runs.

Pure: the runner reads the files (base branch's CI, the head's project files) and runs the
plan in the sandbox, where the package index is the only host reachable. Commands from CI
are never run as written: only the installer flags and pytest options listed here are taken
from them, so CI text cannot reach the worker or the gate's own reporting.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import shlex
from dataclasses import dataclass, field

UV_SYNC_FLAGS = {"--all-extras": 0, "--extra": 1, "--group": 1, "--all-groups": 0, "--dev": 0,
                 "--no-dev": 0, "--all-packages": 0, "--package": 1, "--no-default-groups": 0,
                 "--only-group": 1}
PYTEST_FLAGS = {"-m": 1, "-n": 1, "-p": 1, "-k": 1, "--ignore": 1, "--ignore-glob": 1,
                "--deselect": 1, "--import-mode": 1, "-x": 0, "--strict-markers": 0,
                "--runslow": 0, "--run-slow": 0, "--dist": 1}
# options of pytest and its common plugins that are not taken, whose value is the next word
DROPPED_WITH_VALUE = {"--cov", "--cov-report", "--cov-config", "--cov-fail-under", "--junitxml",
                      "--junit-xml", "-c", "--rootdir", "--basetemp", "-o", "--override-ini",
                      "--timeout", "--maxfail", "--durations", "--tb", "-W", "--log-level",
                      "-r", "--color", "--reruns", "--html", "--random-order-seed"}
SAFE_WORD = re.compile(r"^[A-Za-z0-9_.:/=<>!~\[\],*+@-]+$")
EXPRESSION = re.compile(r"^[\w\s().,:!=<>\[\]-]+$")  # -m/-k: marker and keyword expressions
# requirement lines from a VCS or a URL: set-up reaches the package index and nothing else;
# and a lock's paths out of the repository (codeflash's `-e ../Nuitka`), which are not there
NOT_ON_INDEX = (r"^\s*(-e\s+)?(git|hg|svn|bzr)\+|@\s*(git|hg|svn|bzr)\+|@\s*(https?|file):"
                r"|^\s*(-e\s+)?(\.\./|/)")
TEST_GROUP = re.compile(r"^(tests?|testing|dev|ci|hatch-test|unit)$")


@dataclass(frozen=True)
class ProjectFacts:
    """What the runner read, as data."""
    has: frozenset[str]  # root files present: pyproject.toml, uv.lock, setup.py, ...
    pyproject: dict = field(default_factory=dict)
    workflows: dict[str, dict] = field(default_factory=dict)  # path -> parsed YAML (base's)
    requirement_files: tuple[str, ...] = ()  # test/dev requirement files, relative
    declared: tuple[str, ...] = ()  # plain requirement lines read from tox/hatch/poetry/...
    cores: int = 2
    members: tuple[str, ...] = ()  # workspace members' folders, relative
    makefile: str = ""  # the base's Makefile, for CI steps that run `make TARGET`
    asked: tuple[str, ...] = ()  # the base policy's tests.install


@dataclass(frozen=True)
class SetupPlan:
    tool: str  # "uv.lock", "poetry.lock", "pip"
    script: str  # shell, run in the set-up sandbox at /work with $GK_ENV the environment
    followed: str  # what was followed, for the report
    pytest_args: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # the dependencies alone, from the lock, with no repository code: an environment that
    # later pushes with the same lock reuse ("" when the plan has no such step)
    locked_deps: str = ""


def ci_steps(workflows: dict[str, dict],
             makefile: str = "") -> list[tuple[str, str, list[str]]]:
    """(file, step name, run lines) of the first job that runs pytest, steps before and at it.
    A `make TARGET` line stands for the target's recipe (and its prerequisites')."""
    for path in sorted(workflows):
        jobs = workflows[path].get("jobs") if isinstance(workflows[path], dict) else None
        for job_id, job in (jobs or {}).items() if isinstance(jobs, dict) else []:
            found = []
            for index, step in enumerate(job_steps(job, workflows)):
                run = step.get("run") if isinstance(step, dict) else None
                if not isinstance(run, str):
                    continue
                name = str(step.get("name") or f"step {index + 1}")
                lines = [expanded for line in _lines(run)
                         for expanded in _through_make(line, makefile)]
                found.append((f"{path} job {job_id}", name, lines))
                if any(_is_pytest(shlex_split(line)) for line in lines):
                    return found
    return []


def job_steps(job: object, workflows: dict[str, dict]) -> list[dict]:
    """A job's steps, a local composite action (`uses: ./.github/actions/X`, read with the
    workflows) standing for its own steps, its `${{ inputs.NAME }}` resolved."""
    steps = job.get("steps") if isinstance(job, dict) else None
    out: list[dict] = []
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        uses = str(step.get("uses", ""))
        action = next((workflows.get(uses[2:].rstrip("/") + name) for name in
                       ("/action.yml", "/action.yaml")
                       if uses.startswith("./") and workflows.get(uses[2:].rstrip("/") + name)),
                      None)
        if action is None:
            out.append(_pytest_action(step) or step)
            continue
        runs = action.get("runs") if isinstance(action, dict) else None
        inner = runs.get("steps") if isinstance(runs, dict) else None
        given = {**_input_defaults(action), **(step.get("with") or {})} \
            if isinstance(step.get("with") or {}, dict) else _input_defaults(action)
        out += [_with_inputs(one, given) for one in inner or [] if isinstance(one, dict)]
    return out


def _pytest_action(step: dict) -> dict | None:
    """A published action that runs pytest (SWE-ReX's `sjvrijn/pytest-last-failed`) with its
    options as an input: read as the pytest line it runs. Its options pass the same filter as
    any CI line's."""
    name = str(step.get("uses", "")).split("@")[0].rsplit("/", 1)[-1]
    given = step.get("with")
    if "pytest" not in name.lower() or not isinstance(given, dict):
        return None
    args = next((str(v) for k, v in given.items() if "args" in str(k).lower()), None)
    if args is None:
        return None
    return {"name": str(step.get("name") or step.get("uses")), "run": f"pytest {args}"}


def _input_defaults(action: dict) -> dict:
    inputs = action.get("inputs") if isinstance(action, dict) else None
    return {name: body.get("default") for name, body in (inputs or {}).items()
            if isinstance(body, dict)} if isinstance(inputs, dict) else {}


def _with_inputs(step: dict, given: dict) -> dict:
    values = step.get("with")
    if not isinstance(values, dict):
        return step
    resolved = {}
    for key, value in values.items():
        named = re.fullmatch(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", str(value))
        resolved[key] = given.get(named.group(1)) if named else value
    return {**step, "with": resolved}


def ci_pythons(workflows: dict[str, dict]) -> list[str]:
    """The Python versions ("3.12") CI sets up, newest first: actions/setup-python's
    python-version (through the job's matrix, through local composite actions) in the first
    job that runs tests, else in the first job that sets one up at all."""
    fallback: list[str] = []
    for path in sorted(workflows):
        jobs = workflows[path].get("jobs") if isinstance(workflows[path], dict) else None
        for job in (jobs or {}).values() if isinstance(jobs, dict) else []:
            steps = job_steps(job, workflows)
            found = _setup_pythons(job, steps)
            runs = " ".join(str(s.get("run", "")) for s in steps)
            if found and ("pytest" in runs or "make" in runs or "tox" in runs):
                return _newest_first(found)
            fallback = fallback or found
    return _newest_first(fallback) or _reusable_inputs(workflows)


def _setup_pythons(job: dict, steps: list[dict]) -> list[str]:
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    found: list[str] = []
    for step in steps:
        if not str(step.get("uses", "")).startswith("actions/setup-python"):
            continue
        wanted = (step.get("with") or {}).get("python-version")
        named = re.fullmatch(r"\$\{\{\s*matrix\.([\w-]+)\s*\}\}", str(wanted or ""))
        values = matrix.get(named.group(1)) if named and isinstance(matrix, dict) else wanted
        for value in values if isinstance(values, list) else [values]:
            short = re.match(r"^(3\.\d{1,2})", str(value or ""))
            if short:
                found.append(short.group(1))
    return found


def _newest_first(versions: list[str]) -> list[str]:
    return sorted(set(versions), key=lambda v: int(v.split(".")[1]), reverse=True)


def _reusable_inputs(workflows: dict[str, dict]) -> list[str]:
    """A job that calls a reusable workflow (`uses:` another repository's pipeline) says its
    Python in an input named like python-version / PYTHON_VERSION."""
    found: list[str] = []
    for path in sorted(workflows):
        jobs = workflows[path].get("jobs") if isinstance(workflows[path], dict) else None
        for job in (jobs or {}).values() if isinstance(jobs, dict) else []:
            given = job.get("with") if isinstance(job, dict) and job.get("uses") else None
            for key, value in (given or {}).items() if isinstance(given, dict) else []:
                if re.fullmatch(r"(?i)python[-_]?version", str(key)):
                    found += re.findall(r"\b(3\.\d{1,2})\b", str(value))
    return _newest_first(found)


def _through_make(line: str, makefile: str, depth: int = 0) -> list[str]:
    words = shlex_split(line)
    if not makefile or len(words) < 2 or words[0] != "make" or depth > 3:
        return [line]
    out = []
    for target in [w for w in words[1:] if not w.startswith("-") and "=" not in w][:3]:
        prerequisites, recipe = make_target(makefile, target)
        for needed in prerequisites[:5]:
            out += _through_make(f"make {needed}", makefile, depth + 1)
        out += [r for r in recipe if "$" not in r]
    return out or [line]


def make_target(makefile: str, target: str) -> tuple[list[str], list[str]]:
    """A plain Makefile rule's prerequisites and recipe lines (no variables, no patterns)."""
    lines = makefile.replace("\\\n", " ").splitlines()
    for i, text in enumerate(lines[:5000]):
        rule = re.match(r"^([\w.-]+(?:\s+[\w.-]+)*)\s*:(?!=)\s*([^;#]*)", text)
        if rule and target in rule.group(1).split():
            recipe = []
            for body in lines[i + 1:i + 40]:
                if not body.startswith("\t"):
                    break
                recipe.append(body.strip().lstrip("@-").strip())
            return rule.group(2).split(), [r for r in recipe if r]
    return [], []


def _lines(run: str) -> list[str]:
    # a `${{ matrix.path }}` expression is one unknown word (kept by nothing), never the
    # three words `${{`, `matrix.path` and `}}`, the middle of which looks like a test path
    run = re.sub(r"\$\{\{.*?\}\}", "$CI_EXPRESSION", run, flags=re.DOTALL)
    return [line.strip() for line in run.replace("\\\n", " ").splitlines() if line.strip()]


def shlex_split(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return []


def _is_pytest(words: list[str]) -> bool:
    return _pytest_args(words) is not None


RUNNERS = {("uv", "run"), ("poetry", "run"), ("pdm", "run"), ("hatch", "run"),
           ("pipenv", "run"), ("rye", "run"), ("coverage", "run")}
RUNNER_VALUED = {"--with", "--extra", "--group", "--python", "-p", "--package", "--env", "-e",
                 "--with-requirements", "--directory", "--project", "--source", "--rcfile",
                 "--concurrency", "--context"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
PYTHON = re.compile(r"^(.*/)?python(\d(\.\d+)?)?$")


def _pytest_args(words: list[str]) -> list[str] | None:
    """pytest's arguments when this command runs pytest, else None. Only the command's own
    word counts (after variables and runners such as `uv run`, `python -m`, `coverage run
    -m`): `pip install pytest pytest-cov` installs pytest, it does not run it."""
    i = 0
    while i < len(words):
        word = words[i]
        if ASSIGNMENT.match(word) or word in ("env", "exec", "time", "sudo", "-m"):
            i += 1
        elif word == "timeout":
            i += 2
        elif tuple(words[i:i + 2]) in RUNNERS:
            i += 2
            while i < len(words) and words[i].startswith("-") and words[i] != "-m":
                i += 2 if words[i] in RUNNER_VALUED else 1
        elif PYTHON.match(word) and words[i + 1:i + 2] == ["-m"]:
            i += 2 if words[i + 2:i + 3] == ["pytest"] else len(words)
        elif word in ("pytest", "py.test") or word.endswith("/pytest"):
            return words[i + 1:]
        else:
            return None
    return None


def _take(words: list[str], allowed: dict[str, int]) -> tuple[list[str], list[str]]:
    """The allowed flags (with their values) and the words dropped."""
    kept, dropped, i = [], [], 0
    while i < len(words):
        word = words[i]
        name, _, inline = word.partition("=")
        if name in allowed:
            values = [inline] if inline else words[i + 1:i + 1 + allowed[name]]
            shape = EXPRESSION if name in ("-m", "-k") else SAFE_WORD
            if all(shape.match(v) and "${{" not in v for v in values):
                kept += [name, *values]
            else:
                dropped.append(word)
            i += 1 + (0 if inline else allowed[name])
            continue
        if not word.startswith("-") and allowed is PYTEST_FLAGS and _inside_path(word):
            kept.append(word)  # a test path
        elif word not in ("&&", ";", "|"):
            dropped.append(word)
        if allowed is PYTEST_FLAGS and word in DROPPED_WITH_VALUE and i + 1 < len(words) \
                and not words[i + 1].startswith("-"):
            dropped.append(words[i + 1])  # `--cov swerex`: its value, not a test path
            i += 1
        i += 1
    return kept, dropped


def _inside_path(word: str) -> bool:
    return bool(SAFE_WORD.match(word)) and not word.startswith("/") and \
        ".." not in word.split("/") and "$" not in word


def _split_on_operators(words: list[str]) -> list[list[str]]:
    commands, current = [], []
    for word in words:
        if word in ("&&", ";", "||", "|"):
            commands.append(current)
            current = []
        else:
            current.append(word)
    return [*commands, current]


def plan(facts: ProjectFacts) -> SetupPlan:
    steps = ci_steps(facts.workflows, facts.makefile)
    sync_flags: list[str] | None = None
    pytest_args: list[str] = []
    notes: list[str] = []
    followed = "no CI workflow that runs pytest was found: the project's own declarations"
    for where, name, lines in steps:
        for line in lines:
            for words in _split_on_operators(shlex_split(line)):
                if words[:2] == ["uv", "sync"] and sync_flags is None:
                    sync_flags, dropped = _take(words[2:], UV_SYNC_FLAGS)
                    followed = f"{where}, step {name!r}"
                args = _pytest_args(words)
                if args is not None and not pytest_args:
                    pytest_args, dropped = _take(args, PYTEST_FLAGS)
                    followed = f"{where}, step {name!r}"
                    if dropped:
                        notes.append("pytest options of CI not taken: " + " ".join(dropped)[:200])
    pytest_args = _cap_workers(pytest_args, facts.cores)
    if "uv.lock" in facts.has:
        chosen = _uv_lock(sync_flags, followed, pytest_args, notes)
    elif "poetry.lock" in facts.has:
        chosen = _poetry_lock(facts, followed, pytest_args, notes)
    else:
        chosen = _pip(facts, followed, pytest_args, notes)
    if not facts.asked:
        return chosen
    asked = " ".join(shlex.quote(a) for a in facts.asked)
    return dataclasses.replace(chosen, script=chosen.script + f"uv pip install {asked}\n",
                               notes=(*chosen.notes, f"the policy's tests.install: {asked}"))


def _on_index(source: str, kept: str) -> str:
    """Shell that copies a requirement file without its lines the index cannot serve, and
    names each one left out in the set-up log."""
    pattern, source, kept = shlex.quote(NOT_ON_INDEX), shlex.quote(source), shlex.quote(kept)
    return (f"grep -v -i -E {pattern} {source} > {kept} || true; grep -i -E {pattern} {source} "
            "| sed 's/^/::gatekeeper:: not installed (not on the package index): /' || true\n")


def _cap_workers(args: list[str], cores: int) -> list[str]:
    """pytest-xdist's -n: as the project asks, up to the worker's cores."""
    out = list(args)
    for i, word in enumerate(out[:-1]):
        if word == "-n":
            value = out[i + 1]
            out[i + 1] = str(cores) if value in ("auto", "logical") or not value.isdigit() \
                else str(min(int(value), cores))
    return out


def _uv_lock(flags: list[str] | None, followed: str, pytest_args: list[str],
             notes: list[str]) -> SetupPlan:
    chosen = flags if flags is not None else ["--all-extras"]
    if flags is None:
        notes.append("uv sync's flags: none in CI, so --all-extras and the default groups")
    exported = " ".join(shlex.quote(f) for f in chosen if f not in ("--dev",))
    script = ("uv export --frozen --format requirements-txt --no-header "
              f"{exported} -o /tmp/gk-export.txt\n"
              + _on_index("/tmp/gk-export.txt", "/tmp/gk-locked.txt")
              # the export names every package: the project's [tool.uv.sources] would bring
              # back the paths and URLs left out above
              + "uv pip install --no-sources -r /tmp/gk-locked.txt\n")
    deps = ("uv export --frozen --format requirements-txt --no-header --no-emit-project "
            f"--no-emit-workspace {exported} -o /tmp/gk-deps-export.txt\n"
            + _on_index("/tmp/gk-deps-export.txt", "/tmp/gk-deps.txt")
            + "uv pip install --no-sources -r /tmp/gk-deps.txt\n")
    return SetupPlan("uv.lock", script, followed, tuple(pytest_args),
                     (*notes, f"installed from uv.lock (uv sync {' '.join(chosen)})"), deps)


def _poetry_lock(facts: ProjectFacts, followed: str, pytest_args: list[str],
                 notes: list[str]) -> SetupPlan:
    poetry = facts.pyproject.get("tool", {}).get("poetry", {})
    groups = [name for name, body in (poetry.get("group") or {}).items()
              if isinstance(body, dict) and not body.get("optional")]
    if poetry.get("dev-dependencies"):
        groups.append("dev")
    with_groups = "".join(f" --with {shlex.quote(g)}" for g in sorted(set(groups))
                          if SAFE_WORD.match(g))
    script = ("uv tool run --from poetry --with poetry-plugin-export poetry export "
              f"--format requirements.txt --all-extras{with_groups} -o /tmp/gk-locked.txt\n"
              "uv pip install -r /tmp/gk-locked.txt\n"
              "uv pip install --no-deps -e .\n")
    return SetupPlan("poetry.lock", script, followed, tuple(pytest_args),
                     (*notes, f"installed from poetry.lock (groups: "
                              f"{', '.join(sorted(set(groups))) or 'main only'}, all extras)"))


def _pip(facts: ProjectFacts, followed: str, pytest_args: list[str],
         notes: list[str]) -> SetupPlan:
    project = facts.pyproject.get("project", {}) if isinstance(facts.pyproject, dict) else {}
    lines, targets = [], []
    # as before PEP 517 tools guessed: no build-system table and no setup.py, nothing to build
    buildable = bool({"setup.py", "setup.cfg"} & facts.has) or "build-system" in facts.pyproject
    if buildable:
        extras = sorted(e for e in (project.get("optional-dependencies") or {})
                        if SAFE_WORD.match(str(e)))
        targets.append(f".[{','.join(extras)}]" if extras else ".")
        shown = "its extras " + ", ".join(extras) if extras else "no extras"
        notes.append(f"project installed from . ({shown})")
    members = [m for m in facts.members if _inside_path(m)]
    targets += [f"./{m}" for m in members]
    if members:  # together, so the project and members that need each other find each other
        lines.append("uv pip install --no-sources" + "".join(
            f" -e {shlex.quote(t)}" for t in targets))
    elif targets:
        lines.append(f"uv pip install -e {shlex.quote(targets[0])}")
    if facts.members:
        notes.append(f"project installed from workspace members: {', '.join(facts.members)}")
    groups = sorted(g for g in (facts.pyproject.get("dependency-groups") or {})
                    if TEST_GROUP.match(str(g)))
    if groups:
        lines.append("uv pip install" + "".join(f" --group {shlex.quote(g)}" for g in groups))
        notes.append(f"dependency groups: {', '.join(groups)}")
    for path in facts.requirement_files:
        folder, name = path.rsplit("/", 1) if "/" in path else (".", path)
        kept = f"{folder}/.gatekeeper-{name}"  # beside it: its -r lines resolve
        lines.append(_on_index(path, kept) + f"uv pip install -r {shlex.quote(kept)}")
    if facts.requirement_files:
        notes.append(f"requirement files: {', '.join(facts.requirement_files)}")
    if facts.declared:
        lines.append("uv pip install -r /tmp/gk-declared.txt")
        notes.append(f"{len(facts.declared)} test requirements read from tox/hatch/poetry/pdm")
    # base64: no line of the repository's can end a here-document early
    declared = base64.b64encode("".join(f"{line}\n" for line in facts.declared).encode()).decode()
    script = (f"echo {declared} | base64 -d > /tmp/gk-declared.txt\n"
              + "".join(f"{line}\n" for line in lines))
    return SetupPlan("pip", script, followed, tuple(pytest_args), tuple(notes))
