#!/usr/bin/env python3
# ruff: noqa: E401, I001, E501, UP017, UP022, UP031, E741  (a helper's stand-alone script, kept as written)
"""Rebuild cases.jsonl, files/, SKIPPED.md from the PyPA advisory DB and local git mirrors.

Rule: see RULE.md. Needs Python 3.8+ and PyYAML. Never fetches anything.
Usage: bench/real_cves_build.py [--out DIR] [--plan N]   (default out: bench/data/real_cves; the
sources go to OUT/files/, which is not committed: other projects' code, rebuilt from the mirrors)
  --plan N : only list the next N repos needed (no mirror yet) in walk order; writes nothing.
"""
import argparse, ast, datetime, json, os, re, shutil, subprocess, sys
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADV = os.environ.get("GATEKEEPER_ADVISORIES", os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "advisories", "vulns"))
HERE = os.path.join(ROOT, "bench", "data", "real_cves")  # cases.jsonl, repos.txt, SKIPPED.md
MAX_CASES = 80
PER_PROJECT = 3
MAX_SITES = 5

FAMILIES = [
    ("sql-injection", "CWE-89", ["sql injection"]),
    ("command-injection", "CWE-78", ["command injection", "os command", "shell injection", "shell command"]),
    ("template-injection", "CWE-1336", ["template injection", "ssti"]),
    ("code-injection", "CWE-94", None),
    ("deserialization", "CWE-502", ["deseriali", "pickle", "yaml.load", "unsafe load"]),
    ("path-traversal", "CWE-22", ["path traversal", "directory traversal", "zip slip", "tar slip",
                                  "arbitrary file write", "arbitrary file read", "../"]),
    ("xxe", "CWE-611", ["xml external entit", "xxe"]),
    ("ssrf", "CWE-918", ["server-side request forgery", "ssrf"]),
    ("open-redirect", "CWE-601", ["open redirect"]),
    ("xss", "CWE-79", ["cross-site scripting", "xss"]),
]


def family_of(details):
    d = (details or "").lower()
    for fam, cwe, subs in FAMILIES:
        if subs is None:  # code-injection
            if ("code injection" in d or "eval(" in d or "exec(" in d or
                    ("arbitrary code execution" in d and any(w in d for w in ("eval", "exec", "expression")))):
                return fam, cwe
        elif any(s in d for s in subs):
            return fam, cwe
    return None


FIX_RE = re.compile(r"^https://github\.com/([A-Za-z0-9][A-Za-z0-9_.-]*)/([A-Za-z0-9_.-]+)/"
                    r"(?:commit|pull/\d+/commits)/([0-9a-fA-F]{7,40})(?:[./?#].*)?/?$")


def fix_of(refs):
    for r in refs or []:
        url = (r or {}).get("url") or ""
        m = FIX_RE.match(url.strip())
        if m:
            owner, name, sha = m.groups()
            if name.endswith(".git"):
                name = name[:-4]
            return owner, name, sha.lower(), url.strip()
    return None


def norm_date(s):
    """Normalise an OSV timestamp to 'YYYY-MM-DDTHH:MM:SS' UTC for sorting."""
    s = s.strip().replace("Z", "+00:00")
    if not s:
        return ""  # no published date: sorts after every dated advisory
    try:
        d = datetime.datetime.fromisoformat(s)
    except ValueError:
        m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(.*)$", s)
        d = datetime.datetime.fromisoformat(m.group(1) + (m.group(2) or ""))
    if d.tzinfo is not None:
        d = d.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return d.strftime("%Y-%m-%dT%H:%M:%S")


def load_advisories():
    out = []
    for pkg in sorted(os.listdir(ADV)):
        pdir = os.path.join(ADV, pkg)
        if not os.path.isdir(pdir):
            continue
        for fn in sorted(os.listdir(pdir)):
            if not fn.endswith(".yaml"):
                continue
            with open(os.path.join(pdir, fn), encoding="utf-8") as f:
                doc = yaml.safe_load(f)
            fam = family_of(doc.get("details"))
            if not fam:
                continue
            pub = doc.get("published")
            pub = pub.isoformat() if hasattr(pub, "isoformat") else str(pub or "")
            pkey = norm_date(pub)
            out.append(dict(id=doc["id"], aliases=list(doc.get("aliases") or []), package=pkg,
                            published=pub, family=fam[0], cwe=fam[1], details=doc.get("details") or "",
                            fix=fix_of(doc.get("references")), file=os.path.join(pdir, fn), pkey=pkey))
    out.sort(key=lambda c: c["id"])
    out.sort(key=lambda c: c["pkey"], reverse=True)
    return out


# ---------------------------------------------------------------- mirrors
def load_repos():
    """repos.txt: 'project<TAB>fetched-as<TAB>git-dir' or 'project<TAB>fetched-as<TAB>FAILED: cause'."""
    m = {}
    p = os.path.join(HERE, "repos.txt")
    if os.path.exists(p):
        for line in open(p, encoding="utf-8"):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            repo, _fetched_as, loc = line.split("\t", 2)
            m[repo.lower()] = loc
    return m


def git(gd, *args, check=True):
    r = subprocess.run(["git", "--git-dir=" + gd, "-c", "core.quotepath=off"] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        raise RuntimeError("git %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r


def is_test(path):
    parts = path.split("/")
    if any(p in ("test", "tests") for p in parts[:-1]):
        return True
    fn = parts[-1]
    return fn.startswith("test_") or fn.endswith("_test.py")


def blob(gd, rev, path):
    r = git(gd, "cat-file", "-p", "%s:%s" % (rev, path), check=False)
    return r.stdout if r.returncode == 0 else None


# ---------------------------------------------------------------- ast
def functions(src):
    """List of (qualname, start, end, col) for every def/async def; raises SyntaxError."""
    tree = ast.parse(src)
    res = []

    def visit(node, prefix):
        for ch in ast.iter_child_nodes(node):
            if isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef)):
                q = prefix + ch.name
                start = min([ch.lineno] + [d.lineno for d in ch.decorator_list])
                res.append((q, start, ch.end_lineno, ch.col_offset))
                visit(ch, q + ".")
            elif isinstance(ch, ast.ClassDef):
                visit(ch, prefix + ch.name + ".")
            else:
                visit(ch, prefix)
    visit(tree, "")
    return res


def innermost(funcs, line):
    best = None
    for f in funcs:
        if f[1] <= line <= f[2]:
            if best is None or (f[2] - f[1]) < (best[2] - best[1]) or \
                    ((f[2] - f[1]) == (best[2] - best[1]) and f[1] > best[1]):
                best = f
    return best


def ordinal(funcs, f):
    return [g for g in funcs if g[0] == f[0]].index(f)


HUNK_RE = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def hunks(gd, parent, fix, path):
    r = git(gd, "diff", "-U0", "--no-renames", "--no-ext-diff", "--no-color", "--diff-algorithm=myers",
            parent, fix, "--", path)
    out = []
    cur = None
    for line in r.stdout.split(b"\n"):
        m = HUNK_RE.match(line)
        if m:
            a, b, c, d = m.groups()
            cur = dict(ostart=int(a), olen=1 if b is None else int(b),
                       nstart=int(c), nlen=1 if d is None else int(d), added=[])
            out.append(cur)
        elif cur is not None and line.startswith(b"+") and not line.startswith(b"+++"):
            cur["added"].append(line[1:])
    return out


def indent_of(lines):
    for l in lines:
        s = l.decode("utf-8", "replace").expandtabs(8)
        if s.strip():
            return len(s) - len(s.lstrip())
    return None


# ---------------------------------------------------------------- per case
def analyse(gd, fix_sha):
    r = git(gd, "rev-parse", "--verify", "-q", fix_sha + "^{commit}", check=False)
    if r.returncode != 0:
        return None, "commit not found in fetched history"
    fix = r.stdout.decode().strip()
    parents = git(gd, "rev-list", "--parents", "-n", "1", fix).stdout.decode().split()[1:]
    if len(parents) == 0:
        return None, "root commit (no parent)"
    if len(parents) > 1:
        return None, "merge commit"
    parent = parents[0]
    names = git(gd, "diff", "--name-only", "-z", "--no-renames", parent, fix).stdout.decode("utf-8", "replace")
    changed = sorted(p for p in names.split("\0") if p)
    pys = [p for p in changed if p.endswith(".py")]
    if not pys:
        return None, "fix changes only non-Python files"
    nontest = [p for p in pys if not is_test(p)]
    if not nontest:
        return None, "fix only in tests"
    func_sites, mod_sites, unparsed, files = {}, {}, [], []
    parsed_any = False
    for path in nontest:
        old = blob(gd, parent, path)
        new = blob(gd, fix, path)
        files.append((path, old, new))
        try:
            ofuncs = functions(old) if old is not None else []
        except (SyntaxError, ValueError):
            unparsed.append(path)
            continue
        parsed_any = True
        try:
            nfuncs = functions(new) if new is not None else []
        except (SyntaxError, ValueError):
            nfuncs = None
        for h in hunks(gd, parent, fix, path):
            hits = []  # (func or None, removed_line or None, insert_after or None)
            if h["olen"] > 0:
                for L in range(h["ostart"], h["ostart"] + h["olen"]):
                    hits.append((innermost(ofuncs, L), L, None))
            else:
                A = h["ostart"]
                ind = indent_of(h["added"])
                chosen = None
                cands = sorted([f for f in ofuncs if f[1] <= A <= f[2]], key=lambda f: (f[2] - f[1], -f[1]))
                for f in cands:
                    if A + 1 <= f[2] or (ind is not None and ind > f[3]):
                        chosen = f
                        break
                hits.append((chosen, None, A))
            for f, L, A in hits:
                if f is None:
                    ms = mod_sites.setdefault(path, dict(lines=[], ins=[], nl=[]))
                    if L is not None:
                        ms["lines"].append(L)
                    else:
                        ms["ins"].append(A)
                    if h["nlen"] > 0:
                        ms["nl"] += [h["nstart"], h["nstart"] + h["nlen"] - 1]
                    continue
                key = (path, f[0])  # one site per distinct (path, qualname)
                s = func_sites.get(key)
                if s is None:
                    fixed = None
                    if nfuncs:
                        same = [g for g in nfuncs if g[0] == f[0]]
                        k = ordinal(ofuncs, f)
                        if same:
                            g = same[k] if k < len(same) else same[0]
                            fixed = [g[1], g[2]]
                    s = func_sites[key] = dict(path=path, function=f[0], vuln_lines=[f[1], f[2]],
                                               fixed_lines=fixed, changed_lines_vuln=[],
                                               inserted_after_vuln=[], _first=10 ** 9)
                if L is not None:
                    s["changed_lines_vuln"].append(L)
                    s["_first"] = min(s["_first"], L)
                else:
                    s["inserted_after_vuln"].append(A)
                    s["_first"] = min(s["_first"], A)
    if not parsed_any:
        return None, "Python 2 only file that does not parse with Python 3's ast"
    sites = []
    if func_sites:
        for s in func_sites.values():
            s["changed_lines_vuln"] = sorted(set(s["changed_lines_vuln"]))[:50]
            s["inserted_after_vuln"] = sorted(set(s["inserted_after_vuln"]))[:50]
            sites.append(s)
    else:
        for path, ms in mod_sites.items():
            pts = ms["lines"] + ms["ins"]
            sites.append(dict(path=path, function="<module>", vuln_lines=[min(pts), max(pts)],
                              fixed_lines=[min(ms["nl"]), max(ms["nl"])] if ms["nl"] else None,
                              changed_lines_vuln=sorted(set(ms["lines"]))[:50],
                              inserted_after_vuln=sorted(set(ms["ins"]))[:50], _first=min(pts)))
    sites.sort(key=lambda s: (s["path"], s["_first"], s["function"]))
    if not sites:
        return None, "no changed lines found in non-test Python files"
    truncated = len(sites) > MAX_SITES
    sites = sites[:MAX_SITES]
    for s in sites:
        del s["_first"]
    return dict(fix=fix, parent=parent, sites=sites, sites_truncated=truncated,
                unparsed_files=unparsed, _files=files), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--plan", type=int, default=0)
    ap.add_argument("--max-candidates", type=int, default=0,
                    help="stop the walk after this many candidates (0 = no limit)")
    args = ap.parse_args()
    repos = load_repos()
    cands = load_advisories()
    cases, skipped, per_project, used_fix = [], [], {}, {}
    plan = []
    reached = 0
    for c in cands:
        if len(cases) >= MAX_CASES:
            break
        if args.max_candidates and reached >= args.max_candidates:
            break
        reached += 1
        if not c["fix"]:
            skipped.append((c, None, "no fix commit URL"))
            continue
        owner, name, sha, url = c["fix"]
        proj = ("%s/%s" % (owner, name))
        pk = proj.lower()
        if per_project.get(pk, 0) >= PER_PROJECT:
            skipped.append((c, proj, "project cap (3) reached"))
            continue
        if (pk, sha) in used_fix:
            skipped.append((c, proj, "same fix commit as %s" % used_fix[(pk, sha)]))
            continue
        loc = repos.get(pk)
        if args.plan:
            if loc is None:
                if proj not in plan:
                    plan.append(proj)
                if len(plan) >= args.plan:
                    break
                continue
        if loc is None:
            skipped.append((c, proj, "history not fetched"))
            continue
        if loc.startswith("FAILED"):
            skipped.append((c, proj, "history not fetched (%s)" % loc[len("FAILED: "):]))
            continue
        res, why = analyse(loc, sha)
        if res is None:
            skipped.append((c, proj, why))
            continue
        per_project[pk] = per_project.get(pk, 0) + 1
        used_fix[(pk, sha)] = c["id"]
        res["_c"], res["_proj"], res["_loc"] = c, proj, loc
        cases.append(res)
    if args.plan:
        print("\n".join(plan))
        print("# cases so far (with existing mirrors): %d" % len(cases), file=sys.stderr)
        return
    write(args.out, cases, skipped, reached, cands)


def write(out, cases, skipped, reached, cands):
    fdir = os.path.join(out, "files")
    if os.path.isdir(fdir):
        shutil.rmtree(fdir)
    os.makedirs(fdir)
    with open(os.path.join(out, "cases.jsonl"), "w", encoding="utf-8") as f:
        for r in cases:
            c = r["_c"]
            files = []
            for n, (path, old, new) in enumerate(r["_files"]):
                d = os.path.join(fdir, c["id"], str(n))
                os.makedirs(d)
                with open(os.path.join(d, "vuln.py"), "wb") as g:
                    g.write(old or b"")
                with open(os.path.join(d, "fixed.py"), "wb") as g:
                    g.write(new or b"")
                e = dict(path=path, vuln="files/%s/%d/vuln.py" % (c["id"], n),
                         fixed="files/%s/%d/fixed.py" % (c["id"], n))
                if old is None:
                    e["missing"] = "vuln"
                if new is None:
                    e["missing"] = "fixed"
                files.append(e)
            rec = dict(id=c["id"], aliases=c["aliases"], package=c["package"], published=c["published"],
                       family=c["family"], cwe=c["cwe"], details=c["details"][:300], repo=r["_proj"],
                       mirror=r["_loc"], fix=r["fix"], parent=r["parent"], fix_url=c["fix"][3],
                       sites=r["sites"], sites_truncated=r["sites_truncated"],
                       unparsed_files=r["unparsed_files"], files=files)
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    with open(os.path.join(out, "SKIPPED.md"), "w", encoding="utf-8") as f:
        f.write("# Skipped candidates\n\nCandidates reached by the walk (RULE.md) but not used, in walk order.\n"
                "Candidates reached: %d (of %d matching a family); usable: %d; skipped: %d.\n\n"
                % (reached, len(cands), len(cases), len(skipped)))
        f.write("| id | published | family | project | cause |\n|---|---|---|---|---|\n")
        for c, proj, why in skipped:
            f.write("| %s | %s | %s | %s | %s |\n" % (c["id"], c["published"][:10], c["family"],
                                                    proj or "-", why))
    print("reached %d candidates, %d cases, %d skipped" % (reached, len(cases), len(skipped)))


if __name__ == "__main__":
    main()
