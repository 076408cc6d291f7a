"""The tests stage: the repository's own test suite, run in the sandbox, read from JUnit XML."""

from __future__ import annotations

import dataclasses
import fcntl
import re
import shlex
import shutil
import tempfile
from pathlib import Path
from xml.etree import ElementTree

from gatekeeper.core.attempts import with_attempts
from gatekeeper.core.diff import added_lines
from gatekeeper.core.escape import md_text
from gatekeeper.core.model import ChangedFile, Finding, StageResult
from gatekeeper.core.policy import Policy, path_matches
from gatekeeper.runner import baserun, sandbox
from gatekeeper.runner.basetests import base_tests_fail, edited_tests
from gatekeeper.runner.changedcode import with_coverage
from gatekeeper.runner.interpreters import Interpreter, NoInterpreter, fitting
from gatekeeper.runner.setuprun import as_ci, policy_limits, with_setup
from gatekeeper.runner.suite import (  # noqa: F401 - parse_junit, output_tail: the stage's readers
    LAUNCHER,
    PROJECT_PATH,
    PYTEST_FLAGS,
    REPORT,
    SETUP_FAILED,
    SETUP_MARK,
    TEST_FILES,
    UNITTEST_FILES,
    base_tests_not_run,
    failing_ids,
    has_tests,
    interpret,
    output_tail,
    parse_junit,
    suite_setting,
)
from gatekeeper.runner.testenv import (
    TestEnv,
    TooComplex,
    discover,
    parts,
    project_test_files,
    uses_pytest,
)
from gatekeeper.runner.wheelhouse import LIST_FILE, DependencyError, ensure_wheelhouse, names, sanitize

PROJECT_SITE = "/tmp/gatekeeper-project"  # the project built for this run only (a tmpfs)
READY = ".gatekeeper-ready"
UNITTEST_NAMING = ["-o", "python_files=test*.py *_test.py"]
SITE_HOOKS = ("sitecustomize.py", "usercustomize.py")
CONFIG_FILES = ("**/conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml")
SKIP_RE = re.compile(r"(@pytest\.mark\.(skip|skipif|xfail)\b|pytest\.(skip|xfail)\(|"
                     r"@unittest\.(skip|skipIf|skipUnless|expectedFailure)\b)")
COLLECTED_RE = re.compile(r"(?P<count>\d+) tests? collected(?P<errors>, \d+ errors?)?")
def command(policy: Policy) -> tuple[str, bool]:
    """The shell command to run, and whether it is pytest (so it writes the JUnit report)."""
    configured = policy.tests.command
    if not configured:
        return f"python {LAUNCHER} -q " + " ".join(shlex.quote(f) for f in PYTEST_FLAGS), True
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
        own = [line for p in declared.projects if p != "."
               for line in discover(source / p).requirements]
    except TooComplex as exc:  # over the worker's budget, or unreadable: an honest error
        return StageResult("tests", "error", f"could not read the project's declarations: "
                                             f"{md_text(str(exc))}")
    asked = [("policy tests.install", r) for r in policy.tests.install]
    requirements, refused = sanitize(declared.requirements + declared.build_requires + asked + own)
    requirements = [r for r in requirements if not names([r]) & declared.local_names]
    unittest_style = not uses_pytest(source, declared)
    patterns = (TEST_FILES + UNITTEST_FILES if unittest_style else TEST_FILES) + \
        project_test_files(base if base is not None else source)
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
        python, why = as_ci(pythons, why, base or source, policy)
        return with_setup(source, policy, cache, limits, base, changed, touched, python,
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
        result = _run_parts(source, chosen, prepare + suite_setting(policy) + "", shell,
                            is_pytest, limits, [str(venv), python.prefix], notes)
        if (result.status == "failed" and base is not None and is_pytest
                and policy.tests.preexisting == "warn"):
            result = _parts_preexisting(result, chosen, base, venv, python,
                                        suite_setting(policy), shell, limits, cache)
        return base_tests_not_run(result, policy, base, touched or changed, patterns,
                                   "not done yet for the parts of a monorepo")
    measure = policy.coverage.enabled and is_pytest and changed is not None
    run = sandbox.run(source, ["/bin/sh", "-c", prepare + suite_setting(policy) + shell],
                      limits or sandbox.Limits(), collect=REPORT if is_pytest else None,
                      binds=[str(venv), python.prefix],
                      attempts=policy.tests.attempts != "off", coverage=measure)
    result = interpret(run, is_pytest, notes)
    result = _against_base(result, run, source, base, policy, venv, python, limits, cache, shell,
                           prepare, lambda tree: install_script(discover(tree)),
                           touched or changed, patterns)
    # no base run to compare with on this path: only the kinds no suite needs are shown
    result = with_attempts(result, run.attempts, None, run.attempts_lost, policy.tests.attempts)
    return with_coverage(result, source, base, changed, patterns, [run], policy) \
        if measure else result


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
        result = _mark_preexisting(result, base, venv, python, suite_setting(policy) + shell,
                                   limits, cache, base_install(base))
    if base is not None and is_pytest and run.result and has_tests(base):
        result = _compare_with_base(result, run.result, base, venv, python, limits, cache,
                                    base_install(base))
    if policy.tests.command or not is_pytest:
        return base_tests_not_run(result, policy, base, touched, patterns,
                                   "the policy's tests.command runs the suite, and the gate "
                                   "cannot point it at single files")
    edited = edited_tests(touched or [], base, patterns) if base is not None else []
    if edited and policy.tests.base_tests != "off":
        venv_path = f"export PATH={venv}/bin:$PATH VIRTUAL_ENV={venv}\n"
        findings, note = base_tests_fail(
            source, base, edited, prepare + suite_setting(policy),
            venv_path + base_install(base) + suite_setting(policy), shell, REPORT,
            [str(venv), python.prefix], limits, parse_junit)
        if policy.tests.base_tests == "warn":
            findings = [dataclasses.replace(f, blocking=False, waived_by="tests.base_tests")
                        for f in findings]
        status = "failed" if any(f.blocking for f in findings) else result.status
        result = dataclasses.replace(result, status=status, findings=(*result.findings, *findings),
                                     summary=result.summary + "\n" + note)
    return result


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
            f"if ! python -I -m pip install -q --no-deps --no-build-isolation --no-index "
            f"--disable-pip-version-check --target {PROJECT_SITE} {folders} "
            f"> /tmp/gatekeeper-install.log 2>&1; then\n"
            f"  echo '{SETUP_MARK}'; tail -n 40 /tmp/gatekeeper-install.log; exit {SETUP_FAILED}\n"
            f"fi\nexport {PROJECT_PATH}={PROJECT_SITE}${{{PROJECT_PATH}:+:${PROJECT_PATH}}} "
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
              f"python {LAUNCHER} --collect-only -q -p no:cacheprovider")
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
                                  f"{output_tail(run.stdout + run.stderr)}")
    return venv


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

