"""The stages a gated pull request goes through: tests, sast, dependencies.

Each stage returns a StageResult; a stage that cannot run is an error, never a pass.
"""

from __future__ import annotations

from .model import STAGES, StageResult
from .policy import Policy

NOT_AVAILABLE = ("the {stage} stage is not available in this version of Gatekeeper, so it fails "
                 "closed. The base branch's policy can turn it off (`stages.{stage}: false`), "
                 "which shows it as skipped.")


def run_stages(policy: Policy) -> dict[str, StageResult]:
    results = {}
    for stage in STAGES:
        if not getattr(policy.stages, stage):
            results[stage] = StageResult(stage, "skipped", f"turned off by the base branch's "
                                                           f"policy (`stages.{stage}: false`)")
        else:
            results[stage] = StageResult(stage, "error", NOT_AVAILABLE.format(stage=stage))
    return results
