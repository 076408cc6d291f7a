"""Agent detection over whole public histories: precision and recall against a separate labeller.

Every non-merge commit on each repository's default branch is classified twice:
- by the detector (gatekeeper.core.detect with rules/agents.yml), as `gatekeeper check` sees a
  commit offline (the email decides the account), with the pull request's branch when a merge
  commit names it;
- by `truth()` below, a rule set written apart from the detector: tokens in the author's,
  committer's and co-authors' names and addresses, bot accounts sorted by what their name
  says, message markers, and the branch of the pull request that merged the commit.
The disagreements are printed for checking by hand.

    .venv/bin/python bench/detection_eval.py [MIRROR_DIR]

The histories come from the search tool's fetch (MIRROR_DIR, default /work/.mirror).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatekeeper.cli.local import account  # noqa: E402
from gatekeeper.core.detect import detect  # noqa: E402
from gatekeeper.core.model import Commit, PullRequest, User  # noqa: E402
from gatekeeper.core.rules import agent_rules  # noqa: E402

# microsoft/markitdown, modelcontextprotocol/python-sdk, openai/openai-agents-python and
# simonw/llm were here: held out since 2026-12 (issue 23); they judge the work, not build it
REPOS = ["Aider-AI/aider", "All-Hands-AI/OpenHands", "browser-use/browser-use", "jlowin/fastmcp",
         "pallets/flask", "psf/black", "pydantic/pydantic-ai", "pytest-dev/pytest"]
FIELD, RECORD = "\x1f", "\x1e"
TRAILER = re.compile(r"^co-authored-by:\s*(.*?)\s*<([^>]*)>", re.I | re.M)
MERGE = re.compile(r"^Merge pull request #\d+ from [^/\s]+/(\S+)")

# --- the separate labeller ---------------------------------------------------------------

AGENT_ADDRESS = re.compile(
    r"^(noreply|claude)@anthropic\.com$|^(codex|noreply)@openai\.com$|cursoragent|"
    r"^ai@cursor\.sh$|^(openhands|opendevin)@|^(noreply|aider)@aider\.(chat|dev)$|^grok@x\.ai$|"
    r"ampcode\.com$|\+copilot@users\.noreply|^agent@pydantic\.dev$|^pydanty@", re.I)
AGENT_NAME = re.compile(r"\(aider\)$|^aider \(|^openhands|^opendevin|^cursor (agent|ai)$", re.I)
AI_BOT = re.compile(r"ai|agent|copilot|claude|gpt|devin|jules|gemini|marvin|pydanty|mentat|"
                    r"codex|cursor|openhands|sweep|codegen|security", re.I)
AUTOMATION_BOT = re.compile(r"dependabot|renovate|pre-commit-ci|github-actions|mergify|patchback|"
                            r"imgbot|allcontributors|blacksmith|pytest ?bot|pytestbot", re.I)
AGENT_TEXT = re.compile(r"generated with \[?(claude|codex|cursor|windsurf)|chatgpt\.com/codex|"
                        r"app\.devin\.ai|ampcode\.com/threads|^aider: ", re.I | re.M)
AGENT_BRANCH = re.compile(r"^(copilot|codex|claude|cursor|devin|jules|openhands|sweep)[/-]", re.I)


def _bot_kind(name: str, email: str) -> str | None:
    who = f"{name} {email}"
    if AUTOMATION_BOT.search(who):
        return "automation"
    if "[bot]" in who.lower():
        login = re.sub(r"^\d+\+|@.*$", "", email) if "[bot]" in email else name
        return "agent" if AI_BOT.search(login.replace("[bot]", "")) else "other bot"
    return None


def truth(identities: list[tuple[str, str]], message: str, branch: str) -> tuple[str, str]:
    """('agent' | 'automation' | 'other bot' | 'human', why)."""
    kinds = []
    for name, email in identities:
        if AGENT_ADDRESS.search(email) or AGENT_NAME.search(name):
            return "agent", f"identity {name} <{email}>"
        kind = _bot_kind(name, email)
        if kind == "agent":
            return "agent", f"AI bot {name} <{email}>"
        if kind:
            kinds.append((kind, f"{name} <{email}>"))
    if AGENT_TEXT.search(message):
        return "agent", "message marker " + AGENT_TEXT.search(message).group(0)
    if branch and AGENT_BRANCH.search(branch):
        return "agent", f"merged from branch {branch}"
    for kind, who in kinds:
        if kind == "automation":
            return "automation", who
    if kinds:
        return kinds[0]
    return "human", ""


# --- the histories -----------------------------------------------------------------------

def history(git_dir: Path) -> list[dict]:
    fmt = FIELD.join(["%H", "%P", "%an", "%ae", "%cn", "%ce", "%B"]) + RECORD
    out = subprocess.run(["git", "--git-dir", str(git_dir), "log", "HEAD", f"--format={fmt}"],
                         capture_output=True, text=True, errors="replace", check=True).stdout
    commits = []
    for record in out.split(RECORD):
        parts = record.strip("\n").split(FIELD)
        if len(parts) == 7:
            sha, parents, an, ae, cn, ce, body = parts
            commits.append({"sha": sha, "parents": parents.split(), "an": an, "ae": ae, "cn": cn,
                            "ce": ce, "body": body})
    return commits


def branches(git_dir: Path, commits: list[dict]) -> dict[str, str]:
    """The pull request branch each commit was merged from, where a merge commit names it."""
    found: dict[str, str] = {}
    for c in commits:
        match = MERGE.match(c["body"])
        if len(c["parents"]) == 2 and match:
            merged = subprocess.run(["git", "--git-dir", str(git_dir), "rev-list",
                                     f"{c['parents'][0]}..{c['parents'][1]}"],
                                    capture_output=True, text=True).stdout.split()
            for sha in merged:
                found.setdefault(sha, match.group(1))
    return found


def detected(c: dict, branch: str, rules) -> tuple[str, list[str]]:
    commit = Commit(c["sha"], c["body"], c["ae"], account(c["an"], c["ae"]),
                    account(c["cn"], c["ce"]), c["an"], c["cn"])
    pr = PullRequest(repo="r", number=1, head_sha=c["sha"], head_ref=branch or "main",
                     base_ref="main", base_sha="0" * 40, author=User("someone", "User"))
    found = detect(pr, [commit], rules)
    if found.is_agent:
        return "agent", [str(s) for s in found.signals]
    if found.is_automation:
        return "automation", [str(s) for s in found.automation]
    return "human", []


def main() -> None:
    mirrors = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/.mirror")
    rules = agent_rules()
    matrix: Counter = Counter()
    per_repo: dict[str, Counter] = defaultdict(Counter)
    disagreements: dict[tuple[str, str], list[str]] = defaultdict(list)
    for repo in REPOS:
        git_dir = mirrors / repo.replace("/", "+") / "repo"
        if not git_dir.is_dir():
            raise SystemExit(f"{git_dir} is missing: fetch github:{repo} first")
        commits = history(git_dir)
        merged_from = branches(git_dir, commits)
        for c in commits:
            if len(c["parents"]) > 1:
                continue
            branch = merged_from.get(c["sha"], "")
            identities = [(c["an"], c["ae"]), (c["cn"], c["ce"])]
            identities += [(n.strip(), e.strip()) for n, e in TRAILER.findall(c["body"])]
            expected, why = truth(identities, c["body"], branch)
            got, signals = detected(c, branch, rules)
            matrix[(expected, got)] += 1
            per_repo[repo][(expected, got)] += 1
            if (expected, got) not in {("agent", "agent"), ("automation", "automation"),
                                       ("human", "human")}:
                disagreements[(expected, got)].append(
                    f"{repo}@{c['sha'][:9]} {c['an']} <{c['ae']}>: truth says {why or expected}; "
                    f"detector: {'; '.join(signals)[:160] or 'nothing'}")
    report(matrix, per_repo, disagreements)


def report(matrix: Counter, per_repo: dict, disagreements: dict) -> None:
    total = sum(matrix.values())
    tp = matrix[("agent", "agent")]
    fn = sum(v for (e, g), v in matrix.items() if e == "agent" and g != "agent")
    fp = sum(v for (e, g), v in matrix.items() if e != "agent" and g == "agent")
    print(f"{total} non-merge commits in {len(per_repo)} repositories\n")
    print("| repository | commits | agent (truth) | detected as agent | automation (truth) "
          "| detected as automation | humans flagged |")
    print("|---|---|---|---|---|---|---|")
    for repo, m in per_repo.items():
        print(f"| {repo} | {sum(m.values())} | {sum(v for (e, _), v in m.items() if e == 'agent')} "
              f"| {sum(v for (_, g), v in m.items() if g == 'agent')} "
              f"| {sum(v for (e, _), v in m.items() if e == 'automation')} "
              f"| {sum(v for (_, g), v in m.items() if g == 'automation')} "
              f"| {sum(v for (e, g), v in m.items() if e == 'human' and g != 'human')} |")
    print(f"\nagents: precision {tp / max(1, tp + fp):.4f}, recall {tp / max(1, tp + fn):.4f} "
          f"(TP {tp}, FN {fn}, FP {fp})")
    auto_tp = matrix[("automation", "automation")]
    auto_all = sum(v for (e, _), v in matrix.items() if e == "automation")
    print(f"automation classed as automation: {auto_tp} of {auto_all}")
    humans = sum(v for (e, g), v in matrix.items() if e == "human" and g != "human")
    print(f"human commits flagged: {humans} of "
          f"{sum(v for (e, _), v in matrix.items() if e == 'human')}")
    print("\nconfusion (truth -> detector):")
    for (e, g), v in sorted(matrix.items()):
        print(f"  {e:>10} -> {g:<10} {v}")
    for key, lines in sorted(disagreements.items()):
        print(f"\n{key[0]} -> {key[1]}: {len(lines)}")
        for line in lines[:15]:
            print("  " + line)


if __name__ == "__main__":
    main()
