"""The SAST stage on real vulnerabilities: the vulnerable function found, its fix left alone.

Cases: bench/data/real_cves/cases.jsonl (80 advisories of the PyPA database, 64 projects,
chosen by rule, see its README). Each case's changed files are scanned whole, as if every
line were new, at the fix's parent ("vuln") and at the fix ("fixed"). A case is

- detected when a finding of the case's CWE family that blocks or needs the approver's
  acknowledgement lands inside one of the functions the fix changes, on the vulnerable side;
- still flagged when such a finding lands inside those functions on the fixed side.

Measured in the same run: the gate's SAST stage; bandit alone (medium or more, not low
confidence); semgrep's public Python rules (semgrep/semgrep-rules, `python/`, every severity),
from a fetched history of that repository.

    .venv/bin/python bench/real_cves.py [--files DIR] [--public-rules GIT_DIR] [--only ID,...]

DIR defaults to bench/data/real_cves/files (bench/real_cves_build.py writes it).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatekeeper.core.model import ChangedFile  # noqa: E402
from gatekeeper.runner import sandbox  # noqa: E402
from gatekeeper.scanners import SEVERITY_RANK, ScanTarget  # noqa: E402
from gatekeeper.scanners.bandit import Bandit  # noqa: E402
from gatekeeper.scanners.sast import run_sast  # noqa: E402
from gatekeeper.scanners.semgrep import FLAGS, Semgrep, executable, parse  # noqa: E402

DATA = ROOT / "bench" / "data" / "real_cves"
PUBLIC_RULES = Path("/work/.mirror/semgrep+semgrep-rules/repo")

FAMILY_CWES = {
    "xss": {79, 80, 83, 116}, "path-traversal": {22, 23, 36, 73, 59},
    "code-injection": {94, 95}, "template-injection": {1336, 94, 95},
    "command-injection": {77, 78, 88}, "ssrf": {918}, "deserialization": {502},
    "xxe": {611, 776, 827}, "sql-injection": {89}, "open-redirect": {601},
}
# bandit files some families under a generic CWE; its test id says which family it means
BANDIT_FAMILY = {"B307": "code-injection", "B102": "code-injection",
                 "B506": "deserialization", "B701": "xss", "B702": "xss",
                 **{f"B{n}": "xxe" for n in (*range(313, 321), *range(405, 412))}}


def families(finding) -> set[str]:
    found = {int(n) for n in re.findall(r"CWE-(\d+)", finding.cwe or "")}
    named = {f for f, cwes in FAMILY_CWES.items() if found & cwes}
    bandit_id = finding.rule.split("-")[0] if finding.tool == "bandit" else ""
    return named | ({BANDIT_FAMILY[bandit_id]} if bandit_id in BANDIT_FAMILY else set())


def load(only: set[str]) -> list[dict]:
    cases = [json.loads(line) for line in (DATA / "cases.jsonl").open()]
    return [c for c in cases if not only or c["id"] in only]


def lay_out(cases: list[dict], files: Path, side: str, dest: Path) -> dict[str, tuple]:
    """Copies each case's files to dest/<id>/<n>/<path>; returns scanned path -> (case, path)."""
    where = {}
    for case in cases:
        for n, entry in enumerate(case["files"]):
            source = files / Path(entry[side]).relative_to("files")
            if not source.is_file() or not source.stat().st_size:
                continue
            rel = f"{case['id']}/{n}/{entry['path']}"
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(source.read_bytes())
            where[rel] = (case, entry["path"])
    return where


def added(root: Path, rel: str) -> ChangedFile:
    rows = (root / rel).read_text(errors="replace").splitlines()
    return ChangedFile(rel, "added", patch=f"@@ -0,0 +1,{len(rows)} @@\n"
                       + "".join(f"+{r}\n" for r in rows))


def in_sites(case: dict, path: str, line: int, side: str) -> bool:
    key = "vuln_lines" if side == "vuln" else "fixed_lines"
    return any(s["path"] == path and s.get(key) and s[key][0] <= line <= s[key][1]
               for s in case["sites"])


class PublicSemgrep(Semgrep):
    name = "semgrep-public"

    def __init__(self, rules: Path):
        super().__init__()
        self.rules = rules

    def scan(self, target: ScanTarget):
        command = [executable(), *FLAGS, "--config", str(self.rules), "--", *target.paths]
        run = sandbox.run(target.root, command, self.limits, env={
            "SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off", "HOME": "/tmp"},
            binds=[sys.prefix, str(self.rules)])
        return parse(run, target)


def public_rules(git_dir: Path, dest: Path) -> Path:
    """The python/ rules of semgrep-rules at its newest commit, yaml only (no test files)."""
    archive = subprocess.run(["git", f"--git-dir={git_dir}", "archive", "HEAD", "python"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    for path in (dest / "python").rglob("*"):
        if path.is_file() and not path.name.endswith((".yaml", ".yml")) or \
                path.name.endswith((".test.yaml", ".fixed.yaml")):
            path.unlink()
    return dest / "python"


def blocking_or_ack(finding) -> bool:
    return finding.blocking or bool(finding.waived_by)


def bandit_counts(finding) -> bool:
    return finding.confidence != "low" and \
        SEVERITY_RANK.get(finding.severity, 3) >= SEVERITY_RANK["medium"]


def scan_side(cases, files: Path, side: str, rules: Path | None) -> dict:
    """tool -> case id -> [(counted, families, rule, line)] for findings inside the sites."""
    hits: dict = defaultdict(lambda: defaultdict(list))
    seconds = {}
    with tempfile.TemporaryDirectory(prefix=f"real-cves-{side}-") as folder:
        root = Path(folder)
        where = lay_out(cases, files, side, root)
        changed = [added(root, rel) for rel in sorted(where)]
        target = ScanTarget(root, sorted(where), {rel: None for rel in where})
        runs = {"gate": lambda: _complete(run_sast(root, changed, "medium")),
                "bandit": lambda: Bandit().scan(target).findings}
        if rules:
            runs["semgrep-public"] = lambda: PublicSemgrep(rules).scan(target).findings
        for tool, run in runs.items():
            started = time.monotonic()
            found = run()
            seconds[tool] = time.monotonic() - started
            for f in found:
                if f.path not in where:
                    continue
                case, path = where[f.path]
                if not in_sites(case, path, f.start_line, side):
                    continue
                counted = {"gate": blocking_or_ack, "bandit": bandit_counts}.get(
                    tool, lambda _: True)(f)
                hits[tool][case["id"]].append((counted, families(f), f.rule, f.start_line))
    return hits, seconds


def _complete(stage):
    """A scanner that did not finish (its 300 s limit on a loaded machine) would count as
    misses: stop instead."""
    if stage.status == "error":
        sys.exit("the gate's SAST stage did not complete, so its figures would be wrong:\n"
                 + stage.summary[:600])
    return stage.findings


def verdicts(cases, vuln, fixed, tool) -> dict[str, tuple[bool, bool, str]]:
    """case id -> (detected, still flagged on the fix, what was seen)."""
    out = {}
    for case in cases:
        fam = case["family"]
        on_vuln = vuln[tool].get(case["id"], [])
        on_fixed = fixed[tool].get(case["id"], [])
        detected = any(c and fam in fams for c, fams, _, _ in on_vuln)
        still = any(c and fam in fams for c, fams, _, _ in on_fixed)
        if detected:
            seen = "detected"
        elif any(fam in fams for _, fams, _, _ in on_vuln):
            seen = "family found, not blocking (hint)"
        elif on_vuln:
            seen = "other findings only: " + ", ".join(sorted({r for _, _, r, _ in on_vuln}))[:80]
        else:
            seen = "nothing in the function"
        out[case["id"]] = (detected, still, seen)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=Path, default=DATA / "files")
    parser.add_argument("--public-rules", type=Path, default=PUBLIC_RULES)
    parser.add_argument("--only", default="")
    parser.add_argument("--json", type=Path, help="write per-case results here")
    args = parser.parse_args()
    if not args.files.is_dir():
        sys.exit(f"no case files in {args.files}: run bench/real_cves_build.py first (it needs "
                 "the histories in bench/data/real_cves/repos.txt fetched)")
    cases = load(set(filter(None, args.only.split(","))))
    with tempfile.TemporaryDirectory(prefix="semgrep-rules-") as folder:
        rules = public_rules(args.public_rules, Path(folder)) \
            if args.public_rules.is_dir() else None
        if rules is None:
            print(f"semgrep's public rules not found at {args.public_rules}: not compared")
        vuln, t_vuln = scan_side(cases, args.files, "vuln", rules)
        fixed, t_fixed = scan_side(cases, args.files, "fixed", rules)
    tools = ["gate", "bandit"] + (["semgrep-public"] if rules else [])
    table = {tool: verdicts(cases, vuln, fixed, tool) for tool in tools}
    n = len(cases)
    print(f"{n} cases, {len({c['repo'] for c in cases})} projects\n")
    print("| tool | detected | still flagged on the fix | scan seconds (vuln + fixed) |")
    print("|---|---|---|---|")
    for tool in tools:
        det = sum(v[0] for v in table[tool].values())
        still = sum(v[0] and v[1] for v in table[tool].values())
        print(f"| {tool} | {det}/{n} ({det / n:.0%}) | {still}/{det} of those detected "
              f"({(still / det if det else 0):.0%}) | {t_vuln[tool]:.0f} + {t_fixed[tool]:.0f} |")
    print("\nper family (gate / bandit / public):\n")
    print("| family | cases | " + " | ".join(tools) + " |")
    print("|---|---|" + "---|" * len(tools))
    by_family = Counter(c["family"] for c in cases)
    for fam in sorted(by_family):
        ids = [c["id"] for c in cases if c["family"] == fam]
        cells = []
        for tool in tools:
            det = sum(table[tool][i][0] for i in ids)
            still = sum(table[tool][i][0] and table[tool][i][1] for i in ids)
            cells.append(f"{det} ({still} on fix)")
        print(f"| {fam} | {len(ids)} | " + " | ".join(cells) + " |")
    print("\ngate misses by what was seen:\n")
    for seen, count in Counter(v[2].split(":")[0] for v in table["gate"].values()
                               if not v[0]).most_common():
        print(f"- {seen}: {count}")
    print("\ngate, still flagged on the fix (rule:line):\n")
    for case in cases:
        det, still, _ = table["gate"][case["id"]]
        if det and still:
            seen = sorted({f"{r}:{ln}" for c, fams, r, ln in fixed["gate"].get(case["id"], [])
                           if c and case["family"] in fams})
            print(f"- {case['id']} {case['repo']} ({case['family']}): {', '.join(seen)}")
    if args.json:
        args.json.write_text(json.dumps({tool: {i: list(v) for i, v in t.items()}
                                         for tool, t in table.items()}, indent=1))


if __name__ == "__main__":
    main()
