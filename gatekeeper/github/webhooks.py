"""Webhook signature check and event routing: which deliveries become which jobs.

Nothing here does I/O; web.py reads the request and hands the bytes and headers in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from gatekeeper.core.governance import ORG_REPO
from gatekeeper.core.model import RERUN_ACTION, JobRequest, Target
from gatekeeper.core.triage import COMMAND_RE

SIGNATURE_RE = re.compile(r"^sha256=([0-9a-f]{64})$")
SHA_PATTERN = r"^[0-9a-f]{40}$"


class Malformed(Exception):
    """The delivery cannot be understood: answered 400 with this reason."""


def signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when X-Hub-Signature-256 is the HMAC-SHA256 of the raw body."""
    if not header:
        return False
    match = SIGNATURE_RE.match(header.strip().lower())
    if not match:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, match.group(1))


def sign(secret: bytes, body: bytes) -> str:
    """The X-Hub-Signature-256 value GitHub would send for this body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Routed:
    jobs: list[JobRequest]
    reason: str


@dataclass(frozen=True)
class Ignored:
    reason: str


PR_ACTIONS = {"opened", "reopened", "synchronize", "ready_for_review", "edited"}
REVIEW_ACTIONS = {"submitted", "dismissed", "edited"}


class _Id(BaseModel):
    id: int


class _Repo(BaseModel):
    id: int
    full_name: str = Field(pattern=r"^[^/\s]+/[^/\s]+$")


class _Head(BaseModel):
    sha: str = Field(pattern=SHA_PATTERN)


class _Pull(BaseModel):
    number: int = Field(gt=0)
    head: _Head
    merged: bool | None = None
    merged_by: _Owner | None = None


class _PullEvent(BaseModel):
    pull_request: _Pull
    repository: _Repo
    installation: _Id


class _Reviewed(BaseModel):
    id: int
    body: str | None = ""
    commit_id: str = ""
    user: _Commenter


class _ReviewEvent(_PullEvent):
    review: _Reviewed | None = None


class _PullNumber(BaseModel):
    number: int = Field(gt=0)


class _RequestedAction(BaseModel):
    identifier: str


class _CheckedCommit(BaseModel):
    """What check_run and check_suite share: the commit and its pull requests."""

    head_sha: str = Field(pattern=SHA_PATTERN)
    pull_requests: list[_PullNumber]


class _CheckRunEvent(BaseModel):
    check_run: _CheckedCommit
    repository: _Repo
    installation: _Id
    requested_action: _RequestedAction | None = None  # top level, beside check_run


class _Owner(BaseModel):
    login: str = ""


class _App(BaseModel):
    id: int
    name: str = ""
    owner: _Owner | None = None


class _PostedRun(_CheckedCommit):
    id: int
    name: str
    conclusion: str | None = None
    app: _App


class _PostedRunEvent(BaseModel):
    check_run: _PostedRun
    repository: _Repo
    installation: _Id


GATE_CHECKS = ("gatekeeper", "gatekeeper/")  # the gate's own check names, and its stages'


class _Sender(BaseModel):
    login: str


class _StatusEvent(BaseModel):
    sha: str = Field(pattern=SHA_PATTERN)
    context: str
    state: str
    sender: _Sender
    repository: _Repo
    installation: _Id


class _PushedRepo(_Repo):
    default_branch: str = ""


class _Person(BaseModel):
    name: str = ""
    email: str | None = ""
    username: str | None = None


class _PushedCommit(BaseModel):
    id: str
    message: str = ""
    author: _Person = _Person()
    committer: _Person = _Person()


class _PushEvent(BaseModel):
    ref: str
    after: str = ""
    deleted: bool = False
    repository: _PushedRepo
    installation: _Id | None = None
    commits: list[_PushedCommit] = []
    pusher: _Person = _Person()
    sender: _Sender | None = None


class _CheckSuiteEvent(BaseModel):
    check_suite: _CheckedCommit
    repository: _Repo
    installation: _Id


class _InstallationEvent(BaseModel):
    installation: _Id


class _Commenter(BaseModel):
    login: str
    type: str = "User"


class _Comment(BaseModel):
    id: int
    body: str = ""
    user: _Commenter


class _Issue(BaseModel):
    number: int = Field(gt=0)
    pull_request: dict | None = None  # present when the issue is a pull request


class _CommentEvent(BaseModel):
    comment: _Comment
    issue: _Issue
    repository: _Repo
    installation: _Id


OVERRIDE_COMMAND = "/gatekeeper override"
MAX_COMMAND_TEXT = 20_000  # of a review or comment, passed to the dismiss job


class _MergeGroup(BaseModel):
    head_sha: str = Field(pattern=SHA_PATTERN)
    head_ref: str
    base_sha: str = Field(pattern=SHA_PATTERN)
    base_ref: str


class _MergeGroupEvent(BaseModel):
    merge_group: _MergeGroup
    repository: _Repo
    installation: _Id


class _Envelope(BaseModel):
    action: str | None = None


def route(event: str, payload: dict[str, Any] | bytes, app_id: int | None = None
          ) -> Routed | Ignored:
    """Decide what a delivery asks of us. Raises Malformed when it lacks what the event needs.
    `app_id`: this App's, to tell its own check runs from others named like them.

    `payload` may be the raw body: pydantic then reads only the fields it needs straight from
    the JSON (no dict of the whole delivery is built; the intake's hottest step).
    """
    if isinstance(payload, bytes):
        try:
            action = _Envelope.model_validate_json(payload).action
        except ValidationError as exc:
            kind = exc.errors()[0]["type"]
            if kind == "json_invalid":
                raise Malformed(f"body is not JSON: {exc.errors()[0]['msg']}") from None
            raise Malformed("body is JSON but not an object") from None
    else:
        action = payload.get("action")
    name = f"{event}.{action}" if action else event
    if event == "ping":
        return Ignored("pong")
    if event == "pull_request" and action in PR_ACTIONS:
        return _pull_jobs("gate", _parse(_PullEvent, payload, name), name)
    if event == "pull_request" and action == "closed":
        closed = _parse(_PullEvent, payload, name)
        if not closed.pull_request.merged:
            return Ignored(f"ignored: {name} without a merge")
        routed = _pull_jobs("merged", closed, name)
        by = closed.pull_request.merged_by.login if closed.pull_request.merged_by else ""
        return Routed([replace(routed.jobs[0], args={**routed.jobs[0].args, "merged_by": by})],
                      name)
    if event == "pull_request_review" and action in REVIEW_ACTIONS:
        reviewed = _parse(_ReviewEvent, payload, name)
        routed = _pull_jobs("review", reviewed, name)
        if action == "submitted":  # the body as submitted: a later edit is not a dismissal
            return Routed(routed.jobs + _dismissals(reviewed), name)
        return routed
    if event == "check_run" and action in ("rerequested", "requested_action"):
        run = _parse(_CheckRunEvent, payload, name)
        if action == "requested_action" and (
            run.requested_action is None or run.requested_action.identifier != RERUN_ACTION
        ):
            return Ignored(f"ignored: {name} for an action other than {RERUN_ACTION!r}")
        return _commit_jobs(run.check_run, run.repository, run.installation, name)
    if event == "check_run" and action in ("created", "completed") and app_id is not None:
        return _impersonation(_parse(_PostedRunEvent, payload, name), app_id, name)
    if event == "check_suite" and action == "rerequested":
        suite = _parse(_CheckSuiteEvent, payload, name)
        return _commit_jobs(suite.check_suite, suite.repository, suite.installation, name)
    if event == "status":
        return _status_impersonation(_parse(_StatusEvent, payload, name), name)
    if event == "push":
        push = _parse(_PushEvent, payload, name)
        routed = [r for r in (_org_policy_push(push, name), _branch_push(push, name))
                  if isinstance(r, Routed)]
        return Routed([j for r in routed for j in r.jobs], name) if routed else Ignored(
            f"ignored: {name} to no branch, or without an installation or commits")
    if event == "merge_group" and action == "checks_requested":
        group = _parse(_MergeGroupEvent, payload, name)
        args = {"installation_id": group.installation.id, "repo_id": group.repository.id,
                "repo": group.repository.full_name, **group.merge_group.model_dump()}
        key = f"merge-group-{group.repository.id}-{group.merge_group.head_sha}"
        return Routed([JobRequest("merge-group", key, args)], name)
    if event == "issue_comment" and action == "created":
        return _command(_parse(_CommentEvent, payload, name), name)
    if (event, action) in (("installation", "created"), ("installation_repositories", "added")):
        inst = _parse(_InstallationEvent, payload, name)
        job = JobRequest(
            "installation",
            f"installation-{inst.installation.id}-{action}",
            {"installation_id": inst.installation.id},
        )
        return Routed([job], name)
    return Ignored(f"ignored: {name} is not an event Gatekeeper acts on")


def _org_policy_push(push: _PushEvent, name: str) -> Routed | Ignored:
    """A push to the default branch of ORG/.github may change the organisation's policy:
    forget the cached copy, so the next gate reads it again."""
    owner, repo = push.repository.full_name.split("/")
    if repo != ORG_REPO or push.ref != f"refs/heads/{push.repository.default_branch}":
        return Ignored(f"ignored: {name} not to the default branch of an organisation's "
                       f"{ORG_REPO} repository")
    if push.installation is None:
        return Ignored(f"ignored: {name} without an installation")
    key = f"org-policy-{owner.lower()}-{push.after or push.ref}"
    return Routed([JobRequest("org-policy", key, {"owner": owner,
                                                  "installation_id": push.installation.id})],
                  name)


MAX_PUSHED = 50  # commits of one push looked at; GitHub's payload itself stops at 20


def _branch_push(push: _PushEvent, name: str) -> Routed | Ignored:
    """Commits pushed to a branch: agents' work that no pull request carried is a bypass."""
    if not push.ref.startswith("refs/heads/") or push.deleted or push.installation is None \
            or not push.commits:
        return Ignored(f"ignored: {name}")
    commits = [{"sha": c.id, "message": c.message[:4000], "author_name": c.author.name,
                "author_email": c.author.email or "", "author": c.author.username,
                "committer_name": c.committer.name, "committer": c.committer.username}
               for c in push.commits[:MAX_PUSHED]]
    args = {"installation_id": push.installation.id, "repo": push.repository.full_name,
            "repo_id": push.repository.id, "branch": push.ref.removeprefix("refs/heads/"),
            "default_branch": push.repository.default_branch, "after": push.after,
            "pusher": push.sender.login if push.sender else push.pusher.name,
            "commits": commits}
    return Routed([JobRequest("pushed", f"pushed-{push.repository.id}-{push.after}", args)],
                  name)


def _parse(model: type[BaseModel], payload: dict[str, Any] | bytes, name: str) -> Any:
    try:
        if isinstance(payload, bytes):
            return model.model_validate_json(payload)
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise Malformed(f"{name} payload lacks what Gatekeeper needs: {problems}") from None


def _pull_jobs(kind: str, event: _PullEvent, name: str) -> Routed:
    target = Target(
        installation_id=event.installation.id,
        repo_id=event.repository.id,
        repo=event.repository.full_name,
        number=event.pull_request.number,
        head_sha=event.pull_request.head.sha,
    )
    return Routed([JobRequest(kind, target.key(kind), {"target": target.__dict__})], name)


def _dismissals(event: _ReviewEvent) -> list[JobRequest]:
    """`/gatekeeper dismiss` lines in a submitted review: the dismiss job decides who may."""
    review = event.review
    if review is None or not COMMAND_RE.search(review.body or ""):
        return []
    args = {"installation_id": event.installation.id, "repo_id": event.repository.id,
            "repo": event.repository.full_name, "number": event.pull_request.number,
            "login": review.user.login, "bot": review.user.type == "Bot",
            "text": (review.body or "")[:MAX_COMMAND_TEXT], "commit": review.commit_id,
            "source": f"review {review.id}"}
    key = f"dismiss-{event.repository.id}-{event.pull_request.number}-review-{review.id}"
    return [JobRequest("dismiss", key, args)]


def _command(event: _CommentEvent, name: str) -> Routed | Ignored:
    """`/gatekeeper override REASON` or `/gatekeeper dismiss ...` lines on a pull request:
    the job decides who may."""
    words = event.comment.body.strip().split(None, 2)
    if event.issue.pull_request is not None and COMMAND_RE.search(event.comment.body) and \
            " ".join(words[:2]).lower() != OVERRIDE_COMMAND:
        args = {"installation_id": event.installation.id, "repo_id": event.repository.id,
                "repo": event.repository.full_name, "number": event.issue.number,
                "login": event.comment.user.login, "bot": event.comment.user.type == "Bot",
                "text": event.comment.body[:MAX_COMMAND_TEXT], "commit": "",
                "source": f"comment {event.comment.id}"}
        key = f"dismiss-{event.repository.id}-{event.issue.number}-comment-{event.comment.id}"
        return Routed([JobRequest("dismiss", key, args)], name)
    if event.issue.pull_request is None or " ".join(words[:2]).lower() != OVERRIDE_COMMAND:
        return Ignored(f"ignored: {name} is not a Gatekeeper command on a pull request")
    args = {"installation_id": event.installation.id, "repo_id": event.repository.id,
            "repo": event.repository.full_name, "number": event.issue.number,
            "login": event.comment.user.login, "bot": event.comment.user.type == "Bot",
            "comment_id": event.comment.id, "reason": words[2].strip() if len(words) > 2 else ""}
    key = f"override-{event.repository.id}-{event.issue.number}-{event.comment.id}"
    return Routed([JobRequest("override", key, args)], name)


def _impersonation(event: _PostedRunEvent, app_id: int, name: str) -> Routed | Ignored:
    """A check run named like one of the gate's, posted by another App: answered (the job
    re-posts the gate's own verdict, records and alerts). Anything else is none of ours."""
    run = event.check_run
    ours = run.name == GATE_CHECKS[0] or run.name.startswith(GATE_CHECKS[1])
    if run.app.id == app_id or not ours or not run.pull_requests:
        return Ignored(f"ignored: {name} of another check")
    owner = run.app.owner.login if run.app.owner else "?"
    poster = f"App {run.app.name or '?'} (id {run.app.id}, owned by {owner})"
    jobs = []
    for pull in run.pull_requests:
        target = Target(event.installation.id, event.repository.id, event.repository.full_name,
                        pull.number, run.head_sha)
        args = {"target": target.__dict__, "poster": poster, "check": run.name,
                "conclusion": run.conclusion, "run_id": run.id}
        jobs.append(JobRequest("impersonation", f"impersonation-{target.repo_id}-{pull.number}-"
                               f"{run.id}-{run.conclusion}", args))
    return Routed(jobs, name)


def _status_impersonation(event: _StatusEvent, name: str) -> Routed | Ignored:
    """The gate never posts commit statuses: one named like its checks is someone else's."""
    if not (event.context == GATE_CHECKS[0] or event.context.startswith(GATE_CHECKS[1])):
        return Ignored(f"ignored: {name} of another context")
    args = {"installation_id": event.installation.id, "repo_id": event.repository.id,
            "repo": event.repository.full_name, "sha": event.sha, "check": event.context,
            "conclusion": event.state,
            "poster": f"@{event.sender.login} (a commit status, not a check run)"}
    key = f"impersonation-{event.repository.id}-{event.sha}-{event.context}-{event.state}"
    return Routed([JobRequest("impersonation", key, args)], name)


def _commit_jobs(run: _CheckedCommit, repo: _Repo, installation: _Id, name: str) -> Routed | Ignored:
    if not run.pull_requests:
        return Ignored(f"ignored: {name} is not attached to a pull request of this repository")
    jobs = []
    for pull in run.pull_requests:
        target = Target(installation.id, repo.id, repo.full_name, pull.number, run.head_sha)
        jobs.append(JobRequest("gate", target.key("gate"), {"target": target.__dict__}))
    return Routed(jobs, name)
