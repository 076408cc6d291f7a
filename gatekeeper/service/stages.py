"""The stages a gated pull request goes through: tests, sast, dependencies.

Each stage returns a StageResult; a stage that cannot run is an error, never a pass.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gatekeeper.core import triage
from gatekeeper.core.diff import tree_mismatches
from gatekeeper.core.escape import md_text
from gatekeeper.core.model import STAGES, ChangedFile, Finding, StageResult
from gatekeeper.core.policy import POLICY_PATH, Policy, PolicyError, parse_policy
from gatekeeper.core.rules import default_policy_text, popular_packages
from gatekeeper.runner.sandbox import SandboxUnavailable
from gatekeeper.runner.testrun import run_tests, weakened_suite
from gatekeeper.runner.workspace import Extraction, workspace
from gatekeeper.scanners.depaudit import Auditor, run_dependencies
from gatekeeper.scanners.sast import run_sast
from gatekeeper.service.settings import StageConfig
from gatekeeper.service.weakening import weakened_tests

log = logging.getLogger(__name__)

Fetch = Callable[[Path], Extraction]  # puts the head commit's tree into the given folder
BaseText = Callable[[str], str | None]  # a file's text on the base commit, None if absent


Progress = Callable[[str, str], None]  # (stage, "running" or its status)


def run_stages(policy: Policy, fetch: Fetch, files: list[ChangedFile], base_text: BaseText,
               config: StageConfig, progress: Progress | None = None,
               fetch_base: Fetch | None = None,
               version_tag: str | None = None) -> dict[str, StageResult]:
    """`fetch_base` puts the base commit's tree in a folder, to compare the size of the suite.
    `version_tag`: the base history's latest tag, for versioning plugins in the set-up."""
    tell = progress or (lambda stage, status: None)
    results = {s: StageResult(s, "skipped", f"turned off by the base branch's policy "
                                            f"(`stages.{s}: false`)")
               for s in STAGES if not getattr(policy.stages, s)}
    enabled = [s for s in STAGES if s not in results]
    if not enabled:
        return results
    with workspace() as folder:
        try:
            extraction = fetch(folder / "src")
        except Exception as exc:  # noqa: BLE001 - any failure to fetch is a red stage, named
            return results | _all(enabled, f"the sources could not be fetched: "
                                           f"{exc.__class__.__name__}: {exc}")
        if extraction.aborted:
            return results | _all(enabled, "the sources were refused: "
                                           + md_text(extraction.aborted))
        refused = [Finding("gatekeeper", "workspace/unsafe-archive-member", line)
                   for line in extraction.refused]
        source = extraction.root
        wrong = list(extraction.mismatches) or tree_mismatches(files,
                                                               lambda path: _bytes(source, path))
        if wrong:
            return results | {s: StageResult(s, "failed", "the extracted tree does not match the "
                                                          "commit: " + md_text("; ".join(wrong[:5])))
                              for s in enabled}
        base = _base_tree(fetch_base, folder / "base") if "tests" in enabled else None

        def one(stage: str) -> StageResult:
            tell(stage, "running")
            try:
                result = _stage(stage, source, policy, files, base_text, config, refused, base,
                                version_tag)
            except SandboxUnavailable as exc:
                result = StageResult(stage, "error", f"the sandbox is not available: {exc}")
            except Exception as exc:  # noqa: BLE001 - a crashed stage is red, never missing
                log.exception("stage %s crashed", stage)
                result = StageResult(stage, "error", f"the {stage} stage crashed: "
                                                     f"{exc.__class__.__name__}: {exc}")
            tell(stage, result.status)
            return result

        # the stages are independent: run them side by side, each in this thread's context
        # (so the audit trail's sandbox recording sees every command)
        pool = ThreadPoolExecutor(max_workers=len(enabled), thread_name_prefix="stage")
        try:
            futures = {s: pool.submit(contextvars.copy_context().run, one, s) for s in enabled}
            for stage, future in futures.items():
                results[stage] = future.result()
        except BaseException:  # an interrupt: the caller leaves now, not after the runs end
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        for stage in [s for s in triage.STAGES if s in enabled]:  # while the tree is here
            results[stage] = dataclasses.replace(results[stage], findings=triage.fingerprinted(
                results[stage].findings, lambda path: _text_inside(source, path)))
        invalid = policy_change_findings(files, lambda path: _read(source, path))
    if invalid:  # on the first stage that ran: one place, never lost to a disabled stage
        stage = next(s for s in ("sast", "tests", "dependencies") if s in enabled)
        result = results[stage]
        results[stage] = dataclasses.replace(result, status="failed" if result.status in (
            "passed", "skipped", "failed") else result.status, findings=(*result.findings,
                                                                        *invalid))
    return results


def policy_change_findings(files: list[ChangedFile], read) -> list[Finding]:
    """A change to the policy file that would make it invalid: merged, it would fail every
    later gated pull request, so it blocks here, on the file's lines."""
    if not any(f.path == POLICY_PATH and f.status != "removed" for f in files):
        return []
    text = read(POLICY_PATH)
    if text is None:
        return []
    try:
        parse_policy(text, default_policy_text())
    except PolicyError as err:
        return [Finding("gatekeeper", "policy-invalid", f"this change makes the policy file "
                        f"invalid: {p.message}; merged, it would fail every later gated pull "
                        "request (check it with `gatekeeper policy check`)", "high",
                        POLICY_PATH, p.line or 1, p.line or 1) for p in err.problems]
    return []


def _base_tree(fetch_base: Fetch | None, dest: Path) -> Path | None:
    """The base tree if it can be had cleanly; without it the suite size is not compared."""
    if fetch_base is None:
        return None
    try:
        extraction = fetch_base(dest)
    except Exception:  # noqa: BLE001 - an optional comparison, never a reason to fail
        log.warning("base tree not fetched; the suite size is not compared")
        return None
    return extraction.root if extraction.clean else None


def _stage(stage: str, source: Path, policy: Policy, files: list[ChangedFile],
           base_text: BaseText, config: StageConfig, refused: list[Finding],
           base: Path | None = None, version_tag: str | None = None) -> StageResult:
    if stage == "tests":
        return _tests(source, policy, config.cache_dir, files, refused, base, version_tag,
                      base_text)
    if stage == "sast":
        return run_sast(source, files, policy.scanners.block_on,
                        whole_tree=policy.scanners.whole_tree, unparsed=policy.scanners.unparsed)
    auditor = Auditor(config.osv_url, config.cache_dir, config.audit_cache_ttl)
    return run_dependencies(files, lambda path: _read(source, path), base_text,
                            policy.scanners.block_on, auditor, popular_packages())


def _bytes(root: Path, path: str) -> bytes | None:
    file = root / path
    if file.is_symlink():
        return os.readlink(file).encode(errors="surrogateescape")
    return file.read_bytes() if file.is_file() else None


def _text_inside(root: Path, path: str) -> str | None:
    """A file's text for a fingerprint; None for anything but a regular file in the tree."""
    file = root / path
    try:
        inside = file.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        return None
    return _read(root, path) if inside else None


def _read(root: Path, path: str) -> str | None:
    file = root / path
    if file.is_symlink() or not file.is_file():
        return None
    return file.read_text(errors="replace")


def _tests(source: Path, policy: Policy, cache: Path, files: list[ChangedFile],
           refused: list[Finding], base: Path | None = None,
           version_tag: str | None = None, base_text: BaseText | None = None) -> StageResult:
    result = run_tests(source, policy, cache, base=base, version_tag=version_tag,
                       changed=[f.path for f in files if f.status != "removed"],
                       touched=[p for f in files for p in (f.path, f.previous_path) if p])
    status = "failed" if refused and result.status == "passed" else result.status
    findings = (*result.findings, *refused, *weakened_suite(files),
                *weakened_tests(files, _base_reader(base, base_text),
                                lambda path: _read(source, path)))
    return dataclasses.replace(result, status=status, findings=findings)


def _base_reader(base: Path | None, base_text: BaseText | None) -> BaseText:
    """The base's text of a file: from the base tree when it was fetched cleanly (no request
    per file), else from the source of base texts."""
    if base is not None:
        return lambda path: _read(base, path)
    if base_text is not None:
        return base_text
    return lambda path: None


def _all(stages: list[str], reason: str) -> dict[str, StageResult]:
    return {s: StageResult(s, "error", reason) for s in stages}
