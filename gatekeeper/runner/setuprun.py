"""The tests stage with set-up in the sandbox: the project's own installers (index-only
egress), the change's run, and beside it the base's own run and the referee."""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import os
import re
import shlex
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gatekeeper.core.attempts import setup_findings, with_attempts
from gatekeeper.core.envhooks import hook_findings
from gatekeeper.core.escape import md_code, md_text
from gatekeeper.core.model import StageResult, with_findings
from gatekeeper.core.policy import Policy
from gatekeeper.core.referee import flaky_in_own_run, judge, session_findings
from gatekeeper.core.setupplan import ci_pythons
from gatekeeper.runner import sandbox
from gatekeeper.runner.baseside import base_evidence
from gatekeeper.runner.basetests import edited_tests
from gatekeeper.runner.changedcode import with_coverage
from gatekeeper.runner.envhooks import startup_hooks
from gatekeeper.runner.interpreters import Interpreter
from gatekeeper.runner.projectsetup import SetupError, gather_workflows, set_up
from gatekeeper.runner.referee import run_referee
from gatekeeper.runner.suite import (
    REPORT,
    base_tests_not_run,
    has_tests,
    interpret,
    parse_junit,
    suite_setting,
)

MAX_RERUN = 20  # new failures run again alone; past this many, the change broke them


def policy_limits(policy: Policy) -> sandbox.Limits:
    """The policy's limits for the suite, capped by the worker's GATEKEEPER_MAX_TEST_* (and
    set-up's downloads by GATEKEEPER_MAX_DOWNLOAD_MIB, the organisation's maximum)."""
    asked = policy.tests.limits
    minutes = min(asked.wall_minutes, int(os.environ.get("GATEKEEPER_MAX_TEST_MINUTES", "60")))
    memory = min(asked.memory_mib, int(os.environ.get("GATEKEEPER_MAX_TEST_MEMORY_MIB", "8192")))
    download = min(asked.download_mib,
                   int(os.environ.get("GATEKEEPER_MAX_DOWNLOAD_MIB", "16384")))
    return sandbox.Limits(wall_seconds=minutes * 60, cpu_seconds=minutes * 60 * 2,
                          memory_bytes=memory * 1024**2, processes=asked.processes,
                          output_bytes=asked.output_kib * 1024,
                          download_bytes=download * 1024**2)

def _setup_limits(limits: sandbox.Limits) -> sandbox.Limits:
    """Set-up builds and downloads: more disk and memory than the suite, the same clock."""
    return dataclasses.replace(limits, memory_bytes=max(limits.memory_bytes, 4 * 1024**3),
                               disk_bytes=max(limits.disk_bytes, 4 * 1024**3),
                               processes=max(limits.processes, 512),
                               cpu_seconds=max(limits.cpu_seconds, int(limits.wall_seconds) * 2))

def with_setup(source: Path, policy: Policy, cache: Path, limits: sandbox.Limits,
                base: Path | None, changed: list[str] | None, touched: list[str] | None,
                python: Interpreter, why: str, shell: str, is_pytest: bool,
                patterns: tuple[str, ...], tag: str | None) -> StageResult:
    """Set up by the project's own installers (index-only egress), then run offline. The
    base's own evidence (its set-up and suite, from the base alone) goes beside it."""
    refereed = is_pytest and not policy.tests.command and base is not None and has_tests(base)
    setting = suite_setting(policy)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="base") as pool:
        evidence = _timed(pool, base_evidence, base, python, cache, limits,
                          _setup_limits(limits), setting, shell, REPORT, parse_junit, tag,
                          tuple(policy.tests.install)) if refereed else None
        try:
            setup = set_up(source, base, python, cache, _setup_limits(limits), tag,
                           tuple(policy.tests.install))
        except SetupError as exc:  # the base's evidence is still kept for the next push
            return StageResult("tests", "error", f"could not run the suite: {exc}",
                               cause="gate" if exc.gate else "")
        try:
            return _run_all(source, setup, policy, base, changed, touched, python, why, shell,
                            is_pytest, patterns, limits, setting, refereed, pool, evidence)
        finally:
            shutil.rmtree(setup.work.parent, ignore_errors=True)


def _run_all(source: Path, setup, policy: Policy, base: Path | None, changed, touched,
             python: Interpreter, why: str, shell: str, is_pytest: bool,
             patterns: tuple[str, ...], limits: sandbox.Limits, setting: str, refereed: bool,
             pool: ThreadPoolExecutor, evidence) -> StageResult:
    """The change's run, and the referee once the base's evidence is in, side by side."""
    # start-up hooks set-up left behind (no outcome of that environment is evidence),
    # and what the build code tried
    planted = (*hook_findings(startup_hooks(setup.env, python.path)),
               *setup_findings(setup.attempts))
    venv = setup.env
    notes = [f"- interpreter: Python {python.version} ({md_text(why)})",
             *[f"- {md_text(n)}" for n in setup.notes]]
    if is_pytest and setup.plan.pytest_args and not policy.tests.command:
        shell += " " + " ".join(shlex.quote(a) for a in setup.plan.pytest_args)
    prepare = f"export PATH={venv}/bin:$PATH VIRTUAL_ENV={venv}\n"
    logged = policy.tests.attempts != "off"
    measure = policy.coverage.enabled and is_pytest and changed is not None
    refereeing = functools.partial(
        run_referee, setup.work, base, prepare + setting, shell, REPORT,
        [str(venv), python.prefix], limits, patterns, parse_junit, env=venv)
    referee = pool.submit(contextvars.copy_context().run, _referee_after, evidence, refereeing,
                          logged, measure) if refereed else None
    run = sandbox.run(setup.work, ["/bin/sh", "-c", prepare + setting + shell],
                      limits, collect=REPORT if is_pytest else None,
                      binds=[str(venv), python.prefix], attempts=logged, coverage=measure)
    result = interpret(run, is_pytest, notes)
    result = _missing_module_hint(result, run, setup.plan)
    seconds = [("setup", round(setup.seconds, 1)), ("suite", round(run.duration, 1))]
    if not refereed:
        result = base_tests_not_run(result, policy, base, touched or changed, patterns,
                                     "the policy's tests.command runs the suite, and "
                                     "the gate cannot point it at single files")
        result = with_attempts(result, run.attempts, None, run.attempts_lost,
                               policy.tests.attempts)
        if measure:
            result = with_coverage(result, source, base, changed, patterns, [run], policy)
        return with_findings(dataclasses.replace(result, seconds=tuple(seconds)), planted)
    evidence, base_seconds = evidence.result()
    (ref_run, why_not), ref_seconds = referee.result()
    seconds += [("base set-up and suite", base_seconds), ("referee", ref_seconds)]
    base_failing = evidence.failing
    new = sorted(set(ref_run.failing) - (base_failing or set())) if ref_run else []
    again = frozenset()
    if policy.tests.rerun and 0 < len(new) <= MAX_RERUN:
        started = time.monotonic()
        rerun, _ = refereeing(only=new, session=evidence.session)
        again = frozenset(new) & rerun.passed if rerun else frozenset()
        seconds.append(("re-run of new failures", round(time.monotonic() - started, 1)))
    if evidence.why_unknown:
        result = dataclasses.replace(result, summary=result.summary + "\n- base commit: "
                                     + md_text(evidence.why_unknown))
    if ref_run is not None:
        planted = (*planted, *session_findings(evidence.session, ref_run))
    result = _refereed(result, setup.work, base, policy, (base_failing, evidence.executed),
                       (ref_run, why_not), touched or changed, patterns, seconds, again)
    if ref_run is not None:
        result = dataclasses.replace(result, summary=result.summary + _copy_notes(ref_run))
    tried = run.attempts + (ref_run.attempts if ref_run else ())
    lost = run.attempts_lost + (ref_run.attempts_lost if ref_run else 0)
    result = with_attempts(result, tried, evidence.tried, lost, policy.tests.attempts)
    if measure:
        result = with_coverage(result, source, base, changed, patterns, [run, ref_run],
                               policy)
    return with_findings(result, planted)


def _timed(pool: ThreadPoolExecutor, call, *args):
    """`call(*args)` in the pool, in this thread's context (the audit trail records its
    sandbox runs); its future gives (result, seconds)."""
    def run():
        started = time.monotonic()
        return call(*args), round(time.monotonic() - started, 1)
    return pool.submit(contextvars.copy_context().run, run)


def _referee_after(evidence, refereeing, logged: bool, measure: bool):
    """The referee, launched with what the base's own run loaded (so after it); its result
    and its own seconds."""
    known, _ = evidence.result()
    started = time.monotonic()
    ran = refereeing(attempts=logged, coverage=measure, session=known.session)
    return ran, round(time.monotonic() - started, 1)


def _copy_notes(run) -> str:
    """What the referee's copy did not take of the change, and the base's plugins it lacks:
    said in the summary (the referee's own outcome decides)."""
    lines = ""
    if run.left_out:
        lines += (f"\n- referee: its working copy left out {len(run.left_out)} path(s) of the "
                  "change that are neither the base's nor source (metadata, start-up hooks, "
                  "configuration, root files the base does not have): "
                  + md_text(", ".join(run.left_out[:8])))
    if run.missing_plugins:
        lines += ("\n- referee: the base's run loaded pytest plugins the change's environment "
                  "does not install: " + md_text(", ".join(run.missing_plugins[:8])))
    return lines


def _refereed(result: StageResult, work: Path, base: Path, policy: Policy,
              on_base: tuple[set[str] | None, int | None], referee: tuple,
              touched: list[str] | None, patterns: tuple[str, ...],
              seconds: list[tuple[str, float]],
              passed_again: frozenset[str] = frozenset()) -> StageResult:
    """The head's own run is evidence; the base's suite on the head's code decides."""
    base_failing, base_executed = on_base
    run, why = referee
    edited = {p for p in edited_tests(touched or [], base, patterns) if (work / p).is_file()}
    findings, line = judge(run, base_failing, base_executed, edited, why,
                           _executed(result.summary), passed_again)
    if policy.tests.base_tests == "off":  # edited tests are the reviewer's business alone
        findings = [f for f in findings if f.rule != "base-test-changed"]
    if policy.tests.base_tests == "block":  # no acknowledgement accepted
        findings = [dataclasses.replace(f, blocking=True, waived_by="")
                    if f.rule == "base-test-changed" else f for f in findings]
    judged = set(run.failing) - (base_failing or set()) if run else set()
    # a failure the referee reports is not repeated from the change's own run
    own = flaky_in_own_run(tuple(f for f in result.findings if not (
        f.tool == "pytest" and f.message.split(" ")[0] in judged)), run, edited)
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
    # a failed run that named no failure is never turned green by what the referee says
    unexplained = result.status == "failed" and not result.findings
    status = "failed" if blocking or unexplained else (
        "passed" if result.status in ("passed", "failed") else result.status)
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

def as_ci(pythons: list[Interpreter], why: str, ci_root: Path,
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
