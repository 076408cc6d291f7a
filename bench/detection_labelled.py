"""Agent detection against an independently labelled corpus of histories it was not built from.

    .venv/bin/python bench/detection_labelled.py [LABELS.jsonl] [--mirrors DIR] [--misses N]

The labels (bench/data/detection_labels.jsonl: repository, commit, label, why, confidence)
were made by a labeller written apart from rules/agents.yml, every bot identity and every
commit that mentions an AI tool read by hand (bench/data/detection_RULE.md says how the
histories were chosen). Each commit's author, committer and message are read from the fetched
mirror (/work/.mirror, the search tool's fetch), so the labels file holds no message text.
Each commit is classified as `gatekeeper check` sees it offline (emails decide accounts), with
its branch when the only ref that holds it is an agent's branch. Prints precision and recall per
class and every miss and false alarm.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "bench"))

from detection_eval import detected  # noqa: E402

from gatekeeper.core.rules import agent_rules  # noqa: E402

LABELS = ROOT / "bench" / "data" / "detection_labels.jsonl"
FIELD, RECORD = "\x1f", "\x1e"


def read_commits(git_dir: Path, shas: list[str]) -> dict[str, dict]:
    fmt = FIELD.join(["%H", "%an", "%ae", "%cn", "%ce", "%B"]) + RECORD
    out = subprocess.run(["git", "--git-dir", str(git_dir), "log", "--no-walk=unsorted",
                          f"--format={fmt}", "--stdin"], input="\n".join(shas),
                         capture_output=True, text=True, errors="replace").stdout
    found = {}
    for record in out.split(RECORD):
        parts = record.strip("\n").split(FIELD)
        if len(parts) == 6:
            sha, an, ae, cn, ce, body = parts
            found[sha] = {"an": an, "ae": ae, "cn": cn, "ce": ce, "body": body}
    return found


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv and argv[0].endswith(".jsonl") else LABELS
    mirrors = Path(argv[argv.index("--mirrors") + 1]) if "--mirrors" in argv \
        else Path("/work/.mirror")
    shown = int(argv[argv.index("--misses") + 1]) if "--misses" in argv else 25
    labels = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_repo: dict[str, list[dict]] = defaultdict(list)
    for label in labels:
        by_repo[label["repo"]].append(label)
    rules = agent_rules()
    matrix: Counter = Counter()
    wrong: dict[tuple[str, str], list[str]] = defaultdict(list)
    for repo, rows in sorted(by_repo.items()):
        git_dir = mirrors / repo.replace("/", "+") / "repo"
        if not git_dir.is_dir():
            print(f"{repo}: not fetched ({git_dir}); fetch github:{repo} first", file=sys.stderr)
            continue
        commits = read_commits(git_dir, [r["sha"] for r in rows])
        for row in rows:
            c = commits.get(row["sha"])
            if c is None:
                continue
            got, signals = detected({**c, "sha": row["sha"]}, row.get("branch") or "", rules)
            matrix[(row["label"], got)] += 1
            if got != row["label"]:
                wrong[(row["label"], got)].append(
                    f"{repo}@{row['sha'][:10]} {c['an']} <{c['ae']}> / {c['cn']} <{c['ce']}>: "
                    f"label says {row['why'][:120]}; detector: {'; '.join(signals)[:140] or '-'}")
    report(matrix, wrong, shown, len(by_repo))


def report(matrix: Counter, wrong: dict, shown: int, histories: int) -> None:
    total = sum(matrix.values())
    print(f"{total} labelled non-merge commits in {histories} histories\n")
    print("| class | labelled | detected | correct | precision | recall |")
    print("|---|---|---|---|---|---|")
    for kind in ("agent", "automation", "human"):
        labelled = sum(v for (e, _), v in matrix.items() if e == kind)
        detected_n = sum(v for (_, g), v in matrix.items() if g == kind)
        correct = matrix[(kind, kind)]
        print(f"| {kind} | {labelled} | {detected_n} | {correct} | "
              f"{correct / max(1, detected_n):.4f} | {correct / max(1, labelled):.4f} |")
    print("\nconfusion (label -> detector):")
    for (e, g), v in sorted(matrix.items()):
        print(f"  {e:>10} -> {g:<10} {v}")
    for key, lines in sorted(wrong.items()):
        print(f"\n{key[0]} -> {key[1]}: {len(lines)}")
        for line in lines[:shown]:
            print("  " + line)


if __name__ == "__main__":
    main(sys.argv[1:])
