"""The tests stage: the repository's own test suite, run in the sandbox, read from JUnit XML."""

from __future__ import annotations

import contextvars
import dataclasses
import fcntl
import os
import re
import shlex
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.etree import ElementTree

from gatekeeper.core.diff import added_lines
from gatekeeper.core.escape import inside_path, md_code, md_fence, md_text
from gatekeeper.core.model import ChangedFile, Finding, StageResult
from gatekeeper.core.policy import Policy, path_matches
from gatekeeper.core.referee import judge
from gatekeeper.core.setupplan import ci_pythons
from gatekeeper.runner import baserun, sandbox
from gatekeeper.runner.basetests import base_tests_fail, edited_tests
from gatekeeper.runner.interpreters import Interpreter, NoInterpreter, fitting
from gatekeeper.runner.projectsetup import SetupError, gather_workflows, set_up
from gatekeeper.runner.referee import base_outcome, run_referee
from gatekeeper.runner.testenv import (
    TestEnv,
    TooComplex,
    discover,
    parts,
    pytest_collection,
    uses_pytest,
)
from gatekeeper.runner.wheelhouse import LIST_FILE, DependencyError, ensure_wheelhouse, names, sanitize

REPORT = "/tmp/gatekeeper-junit.xml"
PROJECT_SITE = "/tmp/gatekeeper-project"  # the project built for this run only (a tmpfs)
SETUP_FAILED = 97  # with SETUP_MARK: the project could not be built, no test ran
SETUP_MARK = "gatekeeper: the project did not build and install"
READY = ".gatekeeper-ready"
# a module that does not import (a missing credential, a network call at import) is its own
# error; the rest of the suite still runs, as with the xdist many projects' CI uses
PYTEST_FLAGS = ["-p", "no:cacheprovider", "-o", "junit_family=xunit1", f"--junitxml={REPORT}",
                "--continue-on-collection-errors"]
TEST_FILES = ("test_*.py", "*_test.py")
UNITTEST_FILES = ("test*.py",)  # unittest's default pattern: tests.py and test*.py too
UNITTEST_NAMING = ["-o", "python_files=test*.py *_test.py"]
SITE_HOOKS = ("sitecustomize.py", "usercustomize.py")
CONFIG_FILES = ("**/conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml")
SKIP_RE = re.compile(r"(@pytest\.mark\.(skip|skipif|xfail)\b|pytest\.(skip|xfail)\(|"
                     r"@unittest\.(skip|skipIf|skipUnless|expectedFailure)\b)")
COLLECTED_RE = re.compile(r"(?P<count>\d+) tests? collected(?P<errors>, \d+ errors?)?")
LOCATION_RE = re.compile(r"^(?P<path>[^\s:]+\.py):(?P<line>\d+): ", re.MULTILINE)


def has_tests(root: Path, patterns: tuple[str, ...] = TEST_FILES) -> bool:
    """Test files by the usual names, or by the project's own `python_files` in its
    `testpaths` (a suite of `test/*.py`, say)."""
    files, paths = pytest_collection(root)
    places = [root / p for p in paths if (root / p).is_dir()] or [root]
    wanted = (*patterns, *files)
    return any(p.is_file() for place in places for pattern in wanted for p in place.rglob(pattern)
               if ".venv" not in p.parts and "site-packages" not in p.parts)


def command(policy: Policy) -> tuple[str, bool]:
    """The shell command to run, and whether it is pytest (so it writes the JUnit report)."""
    configured = policy.tests.command
    if not configured:
        return "python -m pytest -q " + " ".join(shlex.quote(f) for f in PYTEST_FLAGS), True
    words = shlex.split(configured)
    is_pytest = any(w == "pytest" or w.endswith("/pytest") for w in words[:3])
    if is_pytest:
        configured += " " + " ".join(shlex.quote(f) for f in PYTEST_FLAGS)
    return configured, is_pytest


def run_tests(source: Path, policy: Policy, cache: Path, limits: sandbox.Limits | None = None,
              base: Path | None = None, changed: list[str] | None = None,
              touched: list[str] | None = None, version_tag: str | None = None) -> StageResult:
    """`base`: the base commit's tree; a suite with fewer tests than it had is flagged.
    `changed`: the paths the change touched; in a monorepo, the parts whose suites run.
    `touched`: every path the change modified, deleted or renamed away (default `changed`):
    the base's versions of those that are tests run on the change's code too."""
    try:
        declared = discover(source)
    except TooComplex as exc:  # over the worker's budget: an honest error, never a hang
        return StageResult("tests", "error", f"could not read the project's declarations: "
                                             f"{md_text(str(exc))}")
    asked = [("policy tests.install", r) for r in policy.tests.install]
    own = [line for p in declared.projects if p != "." for line in discover(source / p).requirements]
    requirements, refused = sanitize(declared.requirements + declared.build_requires + asked + own)
    requirements = [r for r in requirements if not names([r]) & declared.local_names]
    unittest_style = not uses_pytest(source, declared)
    patterns = TEST_FILES + UNITTEST_FILES if unittest_style else TEST_FILES
    # a head without tests whose base had them is the change's doing: the referee runs
    if not policy.tests.command and not has_tests(source, patterns) and not (
            base is not None and has_tests(base, patterns)):
        return StageResult("tests", "skipped", "no test files (test_*.py, *_test.py, and "
                                               "tests.py for unittest projects) found and "
                                               "the policy names no test command")
    shell, is_pytest = command(policy)
    if unittest_style and not policy.tests.command:
        # pytest runs unittest suites (and writes the JUnit report), given unittest's naming
        shell += " " + " ".join(shlex.quote(f) for f in UNITTEST_NAMING)
    if is_pytest and "pytest" not in names(requirements):
        requirements.append("pytest")  # the gate brings its own test runner
    try:
        pythons, why = fitting(source, policy.tests.python)
    except NoInterpreter as exc:
        return StageResult("tests", "error", f"could not run the suite: {exc}")
    limits = limits or policy_limits(policy)
    if policy.tests.setup == "sandbox" and (policy.tests.workdir or
                                            parts(source, declared, changed) == ["."]):
        python, why = _as_ci(pythons, why, base or source, policy)
        return _with_setup(source, policy, cache, limits, base, changed, touched, python,
                           why, shell, is_pytest, patterns, version_tag)
    try:
        python, wheels = _wheels_for(requirements, cache, pythons)
    except DependencyError as exc:
        return StageResult("tests", "error", f"could not run the suite: dependencies cannot be "
                                             f"provided offline: {exc}")
    try:
        venv = ensure_venv(wheels, cache, python)
    except DependencyError as exc:
        return StageResult("tests", "error", f"could not run the suite: {exc}")
    notes = [f"- interpreter: Python {python.version} ({md_text(why)})",
             f"- test environment: {md_text(declared.describe())}"]
    notes += [f"- requirement not installed: {md_text(r)}" for r in refused]
    prepare = f"export PATH={venv}/bin:$PATH VIRTUAL_ENV={venv}\n{install_script(declared)}"
    chosen = ["."] if policy.tests.workdir else parts(source, declared, changed)
    if chosen != ["."]:  # each part says what it declared, not only the repository's root
        notes += [f"- test environment of {md_text(part)}: "
                  f"{md_text('; '.join(discover(source / part).sources) or 'none of its own')}"
                  for part in chosen]
        result = _run_parts(source, chosen, prepare + _suite_setting(policy) + "", shell,
                            is_pytest, limits, [str(venv), python.prefix], notes)
        if (result.status == "failed" and base is not None and is_pytest
                and policy.tests.preexisting == "warn"):
            result = _parts_preexisting(result, chosen, base, venv, python,
                                        _suite_setting(policy), shell, limits, cache)
        return _base_tests_not_run(result, policy, base, touched or changed, patterns,
                                   "not done yet for the parts of a monorepo")
    run = sandbox.run(source, ["/bin/sh", "-c", prepare + _suite_setting(policy) + shell],
                      limits or sandbox.Limits(), collect=REPORT if is_pytest else None,
                      binds=[str(venv), python.prefix])
    result = interpret(run, is_pytest, notes)
    return _against_base(result, run, source, base, policy, venv, python, limits, cache, shell,
                         prepare, lambda tree: install_script(discover(tree)),
                         touched or changed, patterns)


def _against_base(result: StageResult, run: sandbox.SandboxResult, source: Path,
                  base: Path | None, policy: Policy, venv: Path, python: Interpreter,
                  limits: sandbox.Limits | None, cache: Path, shell: str, prepare: str,
                  base_install, touched: list[str] | None,
                  patterns: tuple[str, ...]) -> StageResult:
    """The base commit's suite as referee: pre-existing failures, the suite's size, and the
    base versions of edited tests run on the change's code. `base_install(tree)`: the shell
    that makes the tree importable in `venv` ("" when the environment's editable install
    already points at /work)."""
    is_pytest = run is not None and (policy.tests.command is None or "pytest" in shell)
    if (result.status == "failed" and base is not None and is_pytest and run.result
            and policy.tests.preexisting == "warn" and has_tests(base)):
        result = _mark_preexisting(result, base, venv, python, _suite_setting(policy) + shell,
                                   limits, cache, base_install(base))
    if base is not None and is_pytest and run.result and has_tests(base):
        result = _compare_with_base(result, run.result, base, venv, python, limits, cache,
                                    base_install(base))
    if policy.tests.command or not is_pytest:
        return _base_tests_not_run(result, policy, base, touched, patterns,
                                   "the policy's tests.command runs the suite, and the gate "
                                   "cannot point it at single files")
    edited = edited_tests(touched or [], base, patterns) if base is not None else []
    if edited and policy.tests.base_tests != "off":
        venv_path = f"export PATH={venv}/bin:$PATH VIRTUAL_ENV={venv}\n"
        findings, note = base_tests_fail(
            source, base, edited, prepare + _suite_setting(policy),
            venv_path + base_install(base) + _suite_setting(policy), shell, REPORT,
            [str(venv), python.prefix], limits, parse_junit)
        if policy.tests.base_tests == "warn":
            findings = [dataclasses.replace(f, blocking=False, waived_by="tests.base_tests")
                        for f in findings]
        status = "failed" if any(f.blocking for f in findings) else result.status
        result = dataclasses.replace(result, status=status, findings=(*result.findings, *findings),
                                     summary=result.summary + "\n" + note)
    return result


def policy_limits(policy: Policy) -> sandbox.Limits:
    """The policy's limits for the suite, capped by the worker's GATEKEEPER_MAX_TEST_*."""
    asked = policy.tests.limits
    minutes = min(asked.wall_minutes, int(os.environ.get("GATEKEEPER_MAX_TEST_MINUTES", "60")))
    memory = min(asked.memory_mib, int(os.environ.get("GATEKEEPER_MAX_TEST_MEMORY_MIB", "8192")))
    return sandbox.Limits(wall_seconds=minutes * 60, cpu_seconds=minutes * 60 * 2,
                          memory_bytes=memory * 1024**2, processes=asked.processes,
                          output_bytes=asked.output_kib * 1024)


def _setup_limits(limits: sandbox.Limits) -> sandbox.Limits:
    """Set-up builds and downloads: more disk and memory than the suite, the same clock."""
    return dataclasses.replace(limits, memory_bytes=max(limits.memory_bytes, 4 * 1024**3),
                               disk_bytes=max(limits.disk_bytes, 4 * 1024**3),
                               processes=max(limits.processes, 512),
                               cpu_seconds=max(limits.cpu_seconds, int(limits.wall_seconds) * 2))


def _with_setup(source: Path, policy: Policy, cache: Path, limits: sandbox.Limits,
                base: Path | None, changed: list[str] | None, touched: list[str] | None,
                python: Interpreter, why: str, shell: str, is_pytest: bool,
                patterns: tuple[str, ...], tag: str | None) -> StageResult:
    """Set up by the project's own installers (index-only egress), then run offline."""
    try:
        setup = set_up(source, base, python, cache, _setup_limits(limits), tag,
                       tuple(policy.tests.install))
    except SetupError as exc:
        return StageResult("tests", "error", f"could not run the suite: {exc}")
    try:
        venv = setup.env
        notes = [f"- interpreter: Python {python.version} ({md_text(why)})",
                 *[f"- {md_text(n)}" for n in setup.notes]]
        if is_pytest and setup.plan.pytest_args and not policy.tests.command:
            shell += " " + " ".join(shlex.quote(a) for a in setup.plan.pytest_args)
        prepare = f"export PATH={venv}/bin:$PATH VIRTUAL_ENV={venv}\n"
        refereed = is_pytest and not policy.tests.command and base is not None and \
            has_tests(base)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="referee") as pool:
            # the base's own run and the referee go side by side with the change's run
            setting = _suite_setting(policy)
            on_base = _timed(pool, base_outcome, base, prepare + setting + shell, venv, python,
                             limits, cache, REPORT, parse_junit) if refereed else None
            referee = _timed(pool, run_referee, setup.work, base, prepare + setting, shell,
                             REPORT, [str(venv), python.prefix], limits, patterns,
                             parse_junit) if refereed else None
            run = sandbox.run(setup.work, ["/bin/sh", "-c", prepare + setting + shell],
                              limits, collect=REPORT if is_pytest else None,
                              binds=[str(venv), python.prefix])
            result = interpret(run, is_pytest, notes)
            result = _missing_module_hint(result, run, setup.plan)
            seconds = [("setup", round(setup.seconds, 1)), ("suite", round(run.duration, 1))]
            if not refereed:
                result = _base_tests_not_run(result, policy, base, touched or changed, patterns,
                                             "the policy's tests.command runs the suite, and "
                                             "the gate cannot point it at single files")
                return dataclasses.replace(result, seconds=tuple(seconds))
            (base_failing, base_executed), base_seconds = on_base.result()
            (ref_run, why_not), ref_seconds = referee.result()
        seconds += [("base suite", base_seconds), ("referee", ref_seconds)]
        return _refereed(result, setup.work, base, policy, (base_failing, base_executed),
                         (ref_run, why_not), touched or changed, patterns, seconds)
    finally:
        shutil.rmtree(setup.work.parent, ignore_errors=True)


def _timed(pool: ThreadPoolExecutor, call, *args):
    """`call(*args)` in the pool, in this thread's context (the audit trail records its
    sandbox runs); its future gives (result, seconds)."""
    def run():
        started = time.monotonic()
        return call(*args), round(time.monotonic() - started, 1)
    return pool.submit(contextvars.copy_context().run, run)


def _refereed(result: StageResult, work: Path, base: Path, policy: Policy,
              on_base: tuple[set[str] | None, int | None], referee: tuple,
              touched: list[str] | None, patterns: tuple[str, ...],
              seconds: list[tuple[str, float]]) -> StageResult:
    """The head's own run is evidence; the base's suite on the head's code decides."""
    base_failing, base_executed = on_base
    run, why = referee
    edited = {p for p in edited_tests(touched or [], base, patterns) if (work / p).is_file()}
    findings, line = judge(run, base_failing, base_executed, edited, why,
                           _executed(result.summary))
    if policy.tests.base_tests == "off":  # edited tests are the reviewer's business alone
        findings = [f for f in findings if f.rule != "base-test-changed"]
    if policy.tests.base_tests == "block":  # no acknowledgement accepted
        findings = [dataclasses.replace(f, blocking=True, waived_by="")
                    if f.rule == "base-test-changed" else f for f in findings]
    judged = set(run.failing) - (base_failing or set()) if run else set()
    # a failure the referee reports is not repeated from the change's own run
    own = tuple(f for f in result.findings
                if not (f.tool == "pytest" and f.message.split(" ")[0] in judged))
    old = [f for f in own if f.tool == "pytest" and f.message.split(" ")[0] in (base_failing
                                                                               or set())]
    if old and policy.tests.preexisting == "warn":
        own = tuple(dataclasses.replace(f, new=False, blocking=False,
                                        waived_by="tests.preexisting",
                                        message=f.message + " (fails on the base commit too)")
                    if f in old else f for f in own)
        line += (f"\n- {len(old)} failing test{'s' if len(old) != 1 else ''} also fail"
                 f"{'' if len(old) != 1 else 's'} on the base commit: pre-existing, not blocking "
                 "(policy tests.preexisting: warn)")
    every = (*own, *findings)
    blocking = any(f.blocking for f in every)
    status = "failed" if blocking else ("passed" if result.status in ("passed", "failed")
                                        else result.status)
    return dataclasses.replace(result, status=status, findings=every,
                               summary=result.summary + "".join(
                                   "\n- " + md_text(one.removeprefix("- "))
                                   for one in line.splitlines()),
                               seconds=tuple(seconds))


MISSING_RE = re.compile(r"No module named '([\w.]+)'")


def _missing_module_hint(result: StageResult, run: sandbox.SandboxResult,
                         plan) -> StageResult:
    """A module the suite could not import: what set-up read, and the one-line fix."""
    names = sorted({m.group(1).split(".")[0] for m in MISSING_RE.finditer(
        run.stdout + run.stderr + "".join(f.message for f in result.findings))})
    if not names or result.status == "passed":
        return result
    hint = (f"\n- not installed: {md_text(', '.join(names[:5]))}. Set-up followed "
            f"{md_text(plan.followed)} ({md_text('; '.join(plan.notes) or plan.tool)}). If the "
            f"suite needs it, declare it where CI installs from, or add "
            f"{md_code('tests: {install: [' + names[0] + ']}')} to .github/gatekeeper.yml on "
            "the base branch (the package's name on the index may differ from the module's)")
    return dataclasses.replace(result, summary=result.summary + hint)


def _as_ci(pythons: list[Interpreter], why: str, ci_root: Path,
           policy: Policy) -> tuple[Interpreter, str]:
    """The newest interpreter the project's CI sets up, among those that fit; else the newest
    that fits. A policy's tests.python has already narrowed the list."""
    if policy.tests.python:
        return pythons[0], why
    try:
        wanted = ci_pythons(gather_workflows(ci_root))
    except Exception:  # noqa: BLE001 - CI is a hint here; the project's own bounds decide
        wanted = []
    for version in wanted:
        chosen = next((p for p in pythons if p.short == version), None)
        if chosen is not None:
            return chosen, f"{why}; the version the project's CI tests, {version}"
    return pythons[0], why


def _executed(summary: str) -> int | None:
    """Tests the change's own run executed, from its summary's first line."""
    found = re.match(r"(\d+) passed, (\d+) failed, (\d+) errors", summary)
    if found:
        return sum(int(n) for n in found.groups())
    return 0 if summary.startswith(("no test executed", "no tests ran")) else None


def _base_tests_not_run(result: StageResult, policy: Policy, base: Path | None,
                        touched: list[str] | None, patterns: tuple[str, ...],
                        why: str) -> StageResult:
    """The base's versions of edited tests could not be run on the change: the reviewer is
    told, with a warning, rather than the check passing in silence."""
    edited = edited_tests(touched or [], base, patterns) if base is not None else []
    if not edited or policy.tests.base_tests == "off":
        return result
    shown = ", ".join(edited[:5]) + (" …" if len(edited) > 5 else "")
    warning = Finding("gatekeeper", "base-tests-not-compared",
                      f"the change edits tests ({shown}); their base versions were not run "
                      f"on the change's code: {why}. Check the edits by hand.",
                      severity="medium", blocking=False)
    return dataclasses.replace(result, findings=(*result.findings, warning))


def _run_parts(source: Path, chosen: list[str], prepare: str, shell: str, is_pytest: bool,
               limits: sandbox.Limits | None, binds: list[str], notes: list[str]) -> StageResult:
    """A monorepo: each part's own suite, run from its own folder, reported part by part."""
    results = []
    for part in chosen:
        run = sandbox.run(source, ["/bin/sh", "-c", f"{prepare}cd {shlex.quote(part)}\n{shell}"],
                          limits or sandbox.Limits(), collect=REPORT if is_pytest else None,
                          binds=binds)
        result = interpret(run, is_pytest, [])
        findings = tuple(dataclasses.replace(f, path=f"{part}/{f.path}") if f.path else f
                         for f in result.findings)
        results.append((part, dataclasses.replace(result, findings=findings)))
    statuses = {r.status for _, r in results}
    status = next(s for s in ("error", "failed", "passed") if s in statuses or s == "passed")
    lines = [f"{len(results)} parts of the monorepo with changes ran their own suites: "
             + ", ".join(f"{part} {r.status}" for part, r in results)]
    lines += [f"- {md_text(part)}: {r.summary.splitlines()[0] if r.summary else r.status}"
              for part, r in results]
    tails = [f"\n{md_text(part)}:\n" + "\n".join(r.summary.splitlines()[1:])
             for part, r in results if r.status == "error"]
    return StageResult("tests", status, "\n".join(lines + notes + tails),
                       tuple(f for _, r in results for f in r.findings))


def _parts_preexisting(result: StageResult, chosen: list[str], base: Path, venv: Path,
                       python: Interpreter, setting: str, shell: str,
                       limits: sandbox.Limits | None, cache: Path) -> StageResult:
    """A monorepo's failing parts, run on the base commit too: what fails there already is
    pre-existing, as for a single project."""
    for part in chosen:
        if not (base / part).is_dir() or not any(
                f.path.startswith(f"{part}/") and f.blocking for f in result.findings):
            continue
        own = tuple(dataclasses.replace(f, path=f.path.removeprefix(f"{part}/"))
                    for f in result.findings if f.path.startswith(f"{part}/"))
        marked = _mark_preexisting(dataclasses.replace(result, findings=own), base, venv,
                                   python, f"{setting}cd {shlex.quote(part)}\n{shell}", limits,
                                   cache)
        moved = tuple(dataclasses.replace(f, path=f"{part}/{f.path}") for f in marked.findings)
        others = tuple(f for f in result.findings if not f.path.startswith(f"{part}/"))
        note = marked.summary[len(result.summary):]
        result = dataclasses.replace(result, findings=others + moved,
                                     summary=result.summary + note.replace("\n- ", f"\n- {part}: ", 1))
    status = "failed" if any(f.blocking for f in result.findings) else "passed"
    return dataclasses.replace(result, status=status)


def _suite_setting(policy: Policy) -> str:
    """The policy's tests.env and tests.workdir, as shell before the test command."""
    lines = [f"export {name}={shlex.quote(value)}" for name, value in policy.tests.env.items()]
    if policy.tests.workdir:
        folder = shlex.quote(policy.tests.workdir)
        lines.append(f"cd {folder} || {{ echo \"gatekeeper: the policy's tests.workdir\" {folder} "
                     "'is not a folder of this commit'; exit 2; }")
    return "".join(line + "\n" for line in lines)


def _mark_preexisting(result: StageResult, base: Path, venv: Path, python: Interpreter,
                      shell: str, limits: sandbox.Limits | None, cache: Path,
                      install: str | None = None) -> StageResult:
    """Failing tests that fail on the base commit too are not this change's doing: they stay
    visible as warnings and do not block (policy tests.preexisting: block turns this off)."""
    if install is None:
        install = install_script(discover(base))
    script = f"export PATH={venv}/bin:$PATH VIRTUAL_ENV={venv}\n{install}{shell}"
    key = baserun.key_of(base, "failing", baserun.stable(script, venv), python.prefix,
                          repr(limits))
    known = baserun.remembered(cache, key)
    before = set(known["failing"]) if known else _failing_on_base(base, script, venv, python,
                                                                    limits)
    if before is not None and not known:
        baserun.remember(cache, key, {"failing": sorted(before)})
    if before is None:
        return dataclasses.replace(result, summary=result.summary + "\n- the base commit's "
                                   "suite could not be run here, so no failure is known to be "
                                   "pre-existing")
    old = [f for f in result.findings if f.tool == "pytest" and f.message.split(" ")[0] in before]
    if not old:
        return result
    findings = tuple(dataclasses.replace(f, new=False, blocking=False,
                                         waived_by="tests.preexisting",
                                         message=f.message + " (fails on the base commit too)")
                     if f in old else f for f in result.findings)
    status = "failed" if any(f.blocking for f in findings) else "passed"
    note = (f"\n- {len(old)} failing test{'s' if len(old) != 1 else ''} also fail"
            f"{'' if len(old) != 1 else 's'} on the base commit: pre-existing, not blocking "
            "(policy tests.preexisting: warn)")
    return dataclasses.replace(result, status=status, findings=findings,
                               summary=result.summary + note)


def _failing_on_base(base: Path, script: str, venv: Path, python: Interpreter,
                     limits: sandbox.Limits | None) -> set[str] | None:
    ran = sandbox.run(base, ["/bin/sh", "-c", script], limits or sandbox.Limits(),
                      collect=REPORT, binds=[str(venv), python.prefix])
    try:
        return failing_ids(ran.result) if ran.result and not ran.limit else None
    except ElementTree.ParseError:
        return None


def failing_ids(xml: bytes) -> set[str]:
    """`classname::name` of every test that failed or errored in a JUnit report."""
    return {f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
            for case in ElementTree.fromstring(xml).iter("testcase")
            if any(child.tag in ("failure", "error") for child in case)}


def _wheels_for(requirements: list[str], cache: Path,
                pythons: list[Interpreter]) -> tuple[Interpreter, Path]:
    """The newest allowed interpreter for which every requirement has a wheel (three tries:
    a release often lacks wheels for the newest Python for a while)."""
    error = None
    for python in pythons[:3]:
        try:
            return python, ensure_wheelhouse(requirements, cache, python.short, python.path)
        except DependencyError as exc:
            error = error or exc
    raise error or DependencyError("no interpreter to fetch wheels for")


def install_script(declared: TestEnv) -> str:
    """Shell that builds and installs the project (and workspace members) for this run only.

    It runs inside the sandbox, offline, with the build backends from the wheelhouse; what it
    writes lives in the run's own /tmp, so no later pull request can find it. Versions from
    git tags (setuptools-scm, hatch-vcs) cannot be read from an archive: a fixed one stands in.
    """
    if not declared.projects:
        return ""
    folders = " ".join(shlex.quote(f"./{p}") for p in declared.projects)
    return (f"export SETUPTOOLS_SCM_PRETEND_VERSION=0+gatekeeper PIP_NO_INDEX=1\n"
            f"if ! python -m pip install -q --no-deps --no-build-isolation --no-index "
            f"--disable-pip-version-check --target {PROJECT_SITE} {folders} "
            f"> /tmp/gatekeeper-install.log 2>&1; then\n"
            f"  echo '{SETUP_MARK}'; tail -n 40 /tmp/gatekeeper-install.log; exit {SETUP_FAILED}\n"
            f"fi\nexport PYTHONPATH={PROJECT_SITE}${{PYTHONPATH:+:$PYTHONPATH}} "
            f"PATH={PROJECT_SITE}/bin:$PATH\n")  # its console scripts too


def _compare_with_base(result: StageResult, report: bytes, base: Path, venv: Path,
                       python: Interpreter, limits: sandbox.Limits | None,
                       cache: Path, install: str | None = None) -> StageResult:
    """Collect the base commit's suite with the same environment and compare the counts."""
    try:
        ran = parse_junit(report)[0]["total"]
    except ElementTree.ParseError:
        return result
    if install is None:
        install = install_script(discover(base))
    script = (f"export PATH={venv}/bin:$PATH VIRTUAL_ENV={venv}\n{install}"
              "python -m pytest --collect-only -q -p no:cacheprovider")
    key = baserun.key_of(base, "collected", baserun.stable(script, venv), python.prefix,
                          repr(limits))
    known = baserun.remembered(cache, key)
    if known is None:
        collected = sandbox.run(base, ["/bin/sh", "-c", script], limits or sandbox.Limits(),
                                binds=[str(venv), python.prefix])
        found = COLLECTED_RE.search(collected.stdout)
        clean = not collected.limit and found and not found.group("errors")
        known = {"count": int(found.group("count")) if clean else None}
        baserun.remember(cache, key, known)
    if known["count"] is None:
        return result  # the base does not collect cleanly here: no basis for comparing
    before = known["count"]
    if ran >= before:
        return result
    warning = _warning("fewer-tests", f"the suite has {ran} tests where the base commit had "
                       f"{before}", "", 0)
    return dataclasses.replace(result, findings=(*result.findings, warning))


def ensure_venv(wheels: Path, cache: Path, python: Interpreter) -> Path:
    """A virtualenv with exactly the wheelhouse's requirements, built once, in the sandbox.

    Pull request code never runs while it is writable: afterwards it is bound read-only.
    """
    venv = cache / "venvs" / wheels.name
    if (venv / READY).exists():
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{wheels.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder per venv; the others wait and reuse it
        if (venv / READY).exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        venv.mkdir()
        build = (f"{python.path} -m venv {venv} && {venv}/bin/python -m pip install -q --no-index "
                 f"--find-links {wheels} -r {wheels}/{LIST_FILE} && touch {venv}/{READY}")
        with tempfile.TemporaryDirectory() as empty:
            run = sandbox.run(Path(empty), ["/bin/sh", "-c", build],
                              sandbox.Limits(wall_seconds=600), binds=[str(wheels), python.prefix],
                              writable=[str(venv)])
        if not run.ok or not (venv / READY).exists():
            shutil.rmtree(venv, ignore_errors=True)
            raise DependencyError(f"dependencies did not install in the sandbox\n\n"
                                  f"{_tail(run.stdout + run.stderr)}")
    return venv


def interpret(run: sandbox.SandboxResult, is_pytest: bool, notes: list[str]) -> StageResult:
    tail = _tail(run.stdout + "\n" + run.stderr)
    if run.limit:  # the pull request's own code ran into it: the change's failure
        return StageResult("tests", "failed", f"tests exceeded the {sandbox.describe_limit(run)} "
                                              f"limit and were stopped after {run.duration:.1f} s"
                                              f"\n\n{tail}",
                           (Finding("sandbox", "limit-exceeded", f"tests exceeded the "
                                    f"{sandbox.describe_limit(run)} limit"),))
    if run.exit_code == SETUP_FAILED and SETUP_MARK in run.stdout:
        # the gate could not set the suite up: not a failing test, and said as such
        return StageResult("tests", "error", "could not run the suite: the project did not "
                                             "build and install offline in the sandbox (its "
                                             "[build-system] or setup.py; the policy's "
                                             f"tests.command can replace this step)\n\n{tail}")
    if not is_pytest:
        status = "passed" if run.exit_code == 0 else "failed"
        return StageResult("tests", status, f"test command exited {run.exit_code} in "
                                            f"{run.duration:.1f} s\n\n{tail}")
    if run.result is None or not run.result.strip():
        return StageResult("tests", "error", "\n".join([
            f"the test run wrote no JUnit report (exit {run.exit_code}): pytest did not start "
            "or stopped before collecting", *notes, "", tail]))
    try:
        counts, findings = parse_junit(run.result)
    except ElementTree.ParseError as exc:
        return StageResult("tests", "error", f"the JUnit report is not valid XML: {exc}")
    summary = (f"{counts['passed']} passed, {counts['failed']} failed, {counts['errors']} errors, "
               f"{counts['skipped']} skipped in {run.duration:.1f} s")
    if run.exit_code == 5 or counts["total"] == 0:
        return StageResult("tests", "failed", "no tests ran (pytest collected nothing)\n\n" + tail)
    if counts["total"] == counts["skipped"]:  # all skipped or deselected: nothing was tested
        return StageResult("tests", "failed", f"no test executed: all {counts['skipped']} "
                                              f"skipped\n\n{tail}",
                           (Finding("gatekeeper", "tests/none-executed", "no test executed: "
                                    "every test was skipped"),))
    if run.exit_code not in (0, 1):
        return StageResult("tests", "error", "\n".join([f"pytest exited {run.exit_code}: {summary}",
                                                        *notes, "", tail]), tuple(findings))
    failed = bool(findings) or run.exit_code != 0
    text = "\n".join([summary, *notes])
    return StageResult("tests", "failed" if failed else "passed", text, tuple(findings))


def parse_junit(xml: bytes) -> tuple[dict[str, int], list[Finding]]:
    root = ElementTree.fromstring(xml)
    counts = {"total": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    findings: list[Finding] = []
    for case in root.iter("testcase"):
        counts["total"] += 1
        outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")),
                       None)
        if outcome is None:
            counts["passed"] += 1
            continue
        if outcome.tag == "skipped":
            counts["skipped"] += 1
            continue
        counts["failed" if outcome.tag == "failure" else "errors"] += 1
        findings.append(_test_finding(case, outcome))
    return counts, findings


def _test_finding(case: ElementTree.Element, outcome: ElementTree.Element) -> Finding:
    text = (outcome.text or "") + "\n" + (outcome.get("message") or "")
    path, line = case.get("file", ""), int(case.get("line", "-1")) + 1
    located = [m for m in LOCATION_RE.finditer(text) if inside_path(m.group("path"))]
    if located:  # where the assertion failed, rather than where the test starts
        path, line = inside_path(located[-1].group("path")), int(located[-1].group("line"))
    path = inside_path(path)  # a report's path that leaves the repository is not used
    name = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
    message = (outcome.get("message") or outcome.tag).strip().splitlines()[0][:500]
    return Finding("pytest", f"test-{outcome.tag}", f"{name} {outcome.tag}: {message}",
                   path=path, start_line=max(line, 1), end_line=max(line, 1))


def weakened_suite(files: list[ChangedFile]) -> list[Finding]:
    """Signs that the suite was made to pass rather than the code: for the reviewer's eyes."""
    findings = []
    for file in files:
        name = file.path.rsplit("/", 1)[-1]
        if file.status != "removed" and (name in SITE_HOOKS or name.endswith(".pth")):
            findings.append(Finding("gatekeeper", "runner-tampering/site-hook",
                                    f"{name} runs in every Python process started, the test "
                                    "runner included: it can change any result", "high",
                                    file.path, 1, 1))
        if name in ("pyproject.toml", "setup.cfg", "setup.py") and any(
                "pytest11" in text for _, text in added_lines(file.patch)):
            findings.append(Finding("gatekeeper", "runner-tampering/plugin-entry-point",
                                    "the change declares a pytest plugin (pytest11 entry point) "
                                    "that pytest loads into every run", "high", file.path, 1, 1))
        if file.status == "removed" and any(path_matches(f"**/{p}", file.path) for p in TEST_FILES):
            findings.append(_warning("test-removed", "a test file was deleted", file.path, 1))
        if any(path_matches(p, file.path) for p in CONFIG_FILES):
            findings.append(_warning("test-config-changed", "test configuration changed "
                                     "(conftest.py or pytest settings)", file.path, 1))
        for line, text in added_lines(file.patch):
            if SKIP_RE.search(text):
                findings.append(_warning("test-skip-added", f"skip or xfail added: "
                                         f"{text.strip()[:120]}", file.path, line))
    return findings


def _warning(rule: str, message: str, path: str, line: int) -> Finding:
    return Finding("gatekeeper", f"weakened-suite/{rule}", message, "medium", path, line, line,
                   blocking=False)


def _tail(text: str, lines: int = 30) -> str:
    kept = text.strip().splitlines()[-lines:]
    return md_fence("\n".join(kept)) if kept else ""  # output the test run cannot break out of
