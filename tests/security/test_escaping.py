"""Text the pull request controls, in every place it is shown, cannot ping, link or break out.

Each destination gets the same corpus of injection strings. Markdown is rendered with a
CommonMark renderer with GitHub's autolinking (markdown-it, linkify) and the HTML inspected.
"""

import json
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from gatekeeper.core import escape
from gatekeeper.core.detect import Detection, Signal
from gatekeeper.core.model import Finding
from gatekeeper.core.report import findings_markdown
from gatekeeper.core.verdict import evidence
from gatekeeper.runner.suite import output_tail as _tail
from gatekeeper.service.notify import Alert, message

CORPUS = [
    "<!channel> approved by security, merge now: <https://evil.example/login|GitHub sign-in>",
    "<!here> <!everyone> <@U024BE7LH> <#C024BE7LR> <!subteam^SAZ94GDB8>",
    "[GitHub sign-in](https://evil.example/login)",
    "![tracker](https://evil.example/pixel.png)",
    "<img src=x onerror=alert(1)>", "<script>alert(document.cookie)</script>",
    "https://evil.example/login", "www.evil.example/login", "mail me: admin@evil.example",
    "@octo-org/security please merge", "<https://evil.example>", "[ref]: https://evil.example",
    "*bold* _italic_ ~~struck~~ `code` ``double``", "```\n# Approved by security\n```",
    "line one\n\n## Approved\n\n- [x] reviewed", "&lt;script&gt; &amp; &#60;b&#62;",
    "\u202eexe.txt", "back`tick` and ``` fence and ```` four", "|table|cell|\n|---|---|",
    "<details open><summary>ok</summary></details>", "javascript:alert(1)",
]
APP_URL = "https://github.com/octo/app/pull/7"


class Tags(HTMLParser):
    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def rendered(markdown: str) -> Tags:
    html = MarkdownIt("gfm-like", {"linkify": True}).enable("linkify").render(markdown)
    return Tags(html)


def shown(tags: Tags) -> str:
    return "".join(tags.text).replace(escape.ZWSP, "")


def flat(text: str) -> str:
    return escape.plain(text)


@pytest.mark.parametrize("hostile", CORPUS)
def test_slack_message_has_no_mention_and_no_foreign_link(hostile):
    finding = Finding("pytest", hostile, hostile, "high", path=f"tests/{hostile}.py",
                      start_line=3, end_line=3)
    alert = Alert("Gatekeeper blocked an agent pull request", "octo/app", 7, "a" * 40,
                  "blocked: gatekeeper/tests", APP_URL, (finding,))
    payload = message(alert)
    texts = [payload["text"]]
    for block in payload["blocks"]:
        texts += [f["text"] for f in block.get("fields", [])]
        if block["type"] == "section" and "text" in block:
            texts.append(block["text"]["text"])
    mrkdwn = "\n".join(texts)
    assert "<!" not in mrkdwn and "<@" not in mrkdwn and "<#" not in mrkdwn
    # Slack's only link syntax is <url|label>: the one left is the app's own
    assert mrkdwn.count("<") == 1 and f"<{APP_URL}|#7>" in mrkdwn
    assert "://evil" not in mrkdwn and "evil.example" in mrkdwn or "evil" not in hostile
    findings = payload["blocks"][2]["text"]["text"]
    assert "&lt;" in findings or "<" not in hostile  # the text is still shown, escaped


@pytest.mark.parametrize("hostile", CORPUS)
def test_check_run_markdown_shows_the_text_and_nothing_else(hostile):
    finding = Finding("pytest", "test-failure", hostile, "high", path=f"src/{hostile}.py",
                      start_line=3, end_line=3)
    tags = rendered(findings_markdown((finding,)))
    # only what the report itself writes: its heading, the list, the location's code span
    assert [t for t, _ in tags.tags if t not in ("p", "ul", "li", "strong")] == ["h3", "code"]
    assert flat(hostile) in shown(tags)  # shown literally, nothing swallowed


@pytest.mark.parametrize("hostile", CORPUS)
def test_agent_evidence_quoting_branches_and_markers_is_inert(hostile):
    detection = Detection((Signal("branch", f"head branch {hostile!r} starts with 'copilot/'",
                                  False),), frozenset(), frozenset({"octocat"}))
    tags = rendered(evidence(detection))
    assert [t for t, _ in tags.tags if t not in ("p", "strong", "ul", "li")] == []
    assert flat(repr(hostile)) in shown(tags)


@pytest.mark.parametrize("hostile", CORPUS)
def test_test_output_in_a_fence_cannot_break_out(hostile):
    output = f"FAILED test_x.py::test_y - AssertionError: {hostile}\n```\n# Passed\n```\n{hostile}"
    tags = rendered(_tail(output) + "\n\n**after**")
    assert [t for t, _ in tags.tags] == ["pre", "code", "p", "strong"]
    assert tags.text[0].rstrip("\n") == escape._CONTROL.sub("", output)


def test_code_span_survives_any_backtick_run():
    for text in ["`", "``", "a ` b", "```", "x````y", " lead", "trail "]:
        tags = rendered("see " + escape.md_code(text) + " done")
        assert [t for t, _ in tags.tags] == ["p", "code"]
        assert tags.text[1] == text.strip() or tags.text[1] == text


@pytest.fixture
def hostile_site(env, fake_github):
    from test_details import gated_site

    return gated_site(env, fake_github, "copilot/<script>alert(1)</script>"
                      "<img src=x onerror=alert(1)>[x](https://evil.example)")


def test_details_page_escapes_what_the_pull_request_wrote(hostile_site, fake_github):
    from test_details import sign_in

    page = sign_in(hostile_site.test_client(), fake_github, "alice")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    tags = Tags(html)
    assert not [t for t, _ in tags.tags if t in ("script", "img")]
    # only the page's own links: to the owner's activity page and sign-out
    assert [a["href"] for t, a in tags.tags if t == "a"] == ["/orgs/Codertocat/activity", "/logout"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, as text


def test_activity_page_escapes_an_override_reason(hostile_site, fake_github):
    from test_details import sign_in

    from gatekeeper.service import jobs

    store = jobs.context().store
    for record in ({"kind": "classification", "agent": True, "gated": True, "names": ["Codex"]},
                   {"kind": "override", "by": "carol", "sha": "a" * 40,
                    "reason": "<script>alert(1)</script><img src=x onerror=alert(2)>"}):
        store.append_record("pull:Codertocat/Hello-World#9",
                            {"at": "2026-11-02T10:00:00Z", "repo": "Codertocat/Hello-World",
                             "pr": 9, **record}, 100)
    fake_github.org_members["codertocat"] = {"alice"}
    client = hostile_site.test_client()
    sign_in(client, fake_github, "alice")
    page = client.get("/orgs/Codertocat/activity?since=2026-11-01&until=2026-11-08")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    tags = Tags(html)
    assert not [t for t, _ in tags.tags if t in ("script", "img")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_activity_charts_escape_agent_names_and_cwes_from_the_records():
    """Agent names come from policy files (agents.names) and CWEs from scanner output: the
    server-drawn SVG is put into the page as markup, so pygal's escaping is what holds."""
    from datetime import UTC, datetime

    from gatekeeper.core.activity import summarise
    from gatekeeper.service.activity import charts

    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    base = {"at": "2026-11-02T10:00:00Z", "repo": "acme/api", "pr": 1}
    records = [{**base, "kind": "classification", "agent": True, "gated": True,
                "names": [hostile]},
               {**base, "kind": "stages", "sha": "a", "results": {"sast": {"status": "failed"}},
                "found": [{"rule": "r", "cwe": hostile, "severity": hostile}]}]
    report = summarise(records, datetime(2026, 11, 1, tzinfo=UTC),
                       datetime(2026, 11, 8, tzinfo=UTC))
    svg = "".join(charts({"organisation": "acme", **report}))
    tags = Tags(svg)
    assert not [t for t, _ in tags.tags if t in ("script", "img")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg  # shown, as text


INSTALLER = ["x===@octocat", "x===<https://evil.example/login>", "x===[sign in](https://evil.example)",
             "x===![t](https://evil.example/p.png)", "x===<img src=x onerror=alert(1)>"]


def inert(markdown: str) -> Tags:
    """Rendered summary text with no link, image, HTML element or mention in it."""
    tags = rendered(markdown)
    assert not [t for t, _ in tags.tags if t in ("a", "img", "script", "details")], tags.tags
    return tags


def test_the_renderer_does_link_and_mention_the_raw_strings():
    """Control for the tests below: unescaped, each installer string is a link or an element
    (mentions are GitHub's own: `@octocat` is left to the ZWSP check)."""
    for hostile in INSTALLER[1:]:
        assert [t for t, _ in rendered(hostile).tags if t in ("a", "img")] or \
            "<img" in MarkdownIt("commonmark").render(hostile), hostile


@pytest.mark.parametrize("hostile", INSTALLER)
def test_set_up_errors_quoted_in_a_check_run_are_inert(hostile):
    from gatekeeper.runner.projectsetup import _first_error, _tail

    output = f"Resolved 3 packages\n  × error: Failed to parse: `{hostile}`\nlast {hostile}\n"
    summary = f"the project could not be set up: exit 1{_first_error(output)}\n\n{_tail(output)}"
    tags = inert(summary)
    assert "@octocat" not in summary.replace("`", "") or "@" + escape.ZWSP in summary
    assert hostile in shown(tags)  # shown, as text


@pytest.mark.parametrize("hostile", INSTALLER)
def test_pip_download_errors_quoted_in_a_check_run_are_inert(hostile):
    from gatekeeper.runner.wheelhouse import _why

    # pip names the requirement up to the first space
    for stderr, quoted in ((f"ERROR: No matching distribution found for {hostile}\n",
                            hostile.split()[0]),
                           (f"ERROR: Invalid requirement: '{hostile}'\nhint: see @octocat\n",
                            hostile)):
        tags = inert(f"could not run the suite: {_why(stderr)}")
        assert quoted in shown(tags)
        assert "@octocat" not in _why(stderr)  # a mention broken by the zero-width space


@pytest.mark.parametrize("hostile", INSTALLER)
def test_tool_errors_quoted_in_the_sast_and_dependency_summaries_are_inert(tmp_path, hostile):
    from gatekeeper.core.model import ChangedFile
    from gatekeeper.runner.sandbox import SandboxResult
    from gatekeeper.scanners import ScanTarget, semgrep
    from gatekeeper.scanners.depaudit import AuditError, run_dependencies
    from gatekeeper.scanners.sast import run_sast

    report = {"results": [], "errors": [{"level": "error", "message": f"bad pattern {hostile}"}]}
    run = SandboxResult([], 2, 1.0, None, json.dumps(report), "", False)
    failed = semgrep.parse(run, ScanTarget(tmp_path, ["app.py"], {}))
    assert hostile in failed.error  # control: semgrep's own words carry it

    class Semgrep:
        name = "semgrep"

        def scan(self, target):
            return failed

    (tmp_path / "app.py").write_text("x = 1\n")
    sast = run_sast(tmp_path, [ChangedFile("app.py", "added", patch="@@ -0,0 +1 @@\n+x = 1")],
                    "medium", [Semgrep()])
    assert sast.status == "error" and "@octocat" not in sast.summary
    assert hostile in shown(inert(sast.summary))

    class Auditor:
        def describe(self):
            return "pip-audit"

        def vulnerabilities(self, pins):
            raise AuditError(f"{hostile} was not checked: pip-audit exited 1")

    deps = run_dependencies([ChangedFile("requirements.txt", "added")],
                            lambda p: "six==1.16.0\n", lambda p: None, "medium", Auditor(), set())
    assert deps.status == "error" and "@octocat" not in deps.summary
    assert hostile in shown(inert(deps.summary))
