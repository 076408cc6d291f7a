import json
from pathlib import Path

import pytest
from factories import AGENTS, BOT, commit, pull

from gatekeeper.core.detect import detect
from gatekeeper.core.model import Commit, PullRequest, User
from gatekeeper.core.policy import AgentRules, with_additions
from gatekeeper.core.rules import agent_rules

CLAUDE_TRAILER = "Fix login\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"


@pytest.mark.parametrize("pr,commits,kinds,strong", [
    (pull(), [], {"agent account", "branch"}, True),
    (pull(author="Copilot"), [], {"agent account", "branch"}, True),
    (pull(author="some-ci[bot]", head_ref="fix"), [], {"bot account"}, True),
    (pull(author="alice", bot=False, head_ref="codex/task-1"), [], {"branch"}, False),
    (pull(author="alice", bot=False, head_ref="fix", labels=["AI-generated"]), [], {"label"}, False),
    (pull(author="alice", bot=False, head_ref="fix",
          body="Task: https://chatgpt.com/codex/tasks/task_e_123"), [], {"session link"}, False),
    (pull(author="alice", bot=False, head_ref="fix"), [commit(CLAUDE_TRAILER, "alice")],
     {"trailer"}, False),
    (pull(author="alice", bot=False, head_ref="fix"),
     [commit("x\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)", "alice")],
     {"marker"}, False),
    (pull(author="alice", bot=False, head_ref="fix"), [commit("wip", BOT, bot=True)],
     {"commit author"}, False),
])
def test_signals_and_their_strength(pr, commits, kinds, strong):
    found = detect(pr, commits, AGENTS)
    assert found.is_agent
    assert {s.kind for s in found.signals} == kinds
    assert found.strong is strong


def test_a_plain_human_pull_request_is_not_agent_authored():
    found = detect(pull(author="alice", bot=False, head_ref="feature/login"),
                   [commit("Add login", "alice")], AGENTS)
    assert not found.is_agent and found.signals == () and found.requesters == frozenset()


def test_human_who_started_codex_under_their_account_is_the_requester():
    found = detect(pull(author="alice", bot=False, head_ref="codex/fix"), [], AGENTS)
    assert found.requesters == {"alice"}


def test_human_committing_with_an_agent_coauthor_is_the_requester():
    found = detect(pull(author="alice", bot=False, head_ref="fix"),
                   [commit(CLAUDE_TRAILER, "bob")], AGENTS)
    assert "bob" in found.requesters


def test_human_coauthor_of_an_agent_commit_is_the_requester():
    message = "Fix\n\nCo-authored-by: Carol <12345+carol@users.noreply.github.com>\n"
    found = detect(pull(), [commit(message, BOT, bot=True)], AGENTS)
    assert found.requesters == {"carol"}
    assert BOT.lower() in found.agents


def test_human_assignee_of_an_agent_pull_request_is_the_requester():
    found = detect(pull(assignees=["dave"]), [], AGENTS)
    assert found.requesters == {"dave"}


def test_repository_additions_are_used():
    rules = with_additions(AGENTS, AgentRules(branch_prefixes=["robot/"], bot_logins=["helper"]))
    assert detect(pull(author="alice", bot=False, head_ref="robot/x"), [], rules).is_agent
    found = detect(pull(author="helper", bot=False, head_ref="x"), [], rules)
    assert found.strong and "helper" in found.agents


def test_matching_ignores_case_and_evidence_is_readable():
    found = detect(pull(author="COPILOT-SWE-AGENT[BOT]", head_ref="Copilot/Fix"), [], AGENTS)
    assert found.strong
    text = [str(s) for s in found.signals]
    assert any("opened by @COPILOT-SWE-AGENT[BOT] (GitHub Copilot coding agent)" in t
               and "(strong)" in t for t in text)
    assert any("(hint)" in t for t in text)


def test_cursor_agent_coauthor_trailer_is_an_agent_signal():
    message = "Add retry\n\nCo-authored-by: Cursor <cursoragent@cursor.com>\n"
    found = detect(pull(author="alice", bot=False, head_ref="fix-retry"),
                   [commit(message, "alice")], AGENTS)
    assert found.is_agent and [s.kind for s in found.signals] == ["trailer"]
    assert "alice" in found.requesters


# Real commit shapes from the histories in bench/detection_eval.py (rules/agents.yml says where)
HUMAN = pull(author="alice", bot=False, head_ref="fix")


def coauthored(name_email: str) -> str:
    return f"Fix parsing\n\nCo-authored-by: {name_email}\n"


@pytest.mark.parametrize("message, author_name, author_email, agent", [
    (coauthored("Claude Opus 4.6 (1M context) <noreply@anthropic.com>"), "", "", "Claude Code"),
    (coauthored("Anthropic Claude Opus 4 <claude@anthropic.com>"), "", "", "Claude Code"),
    (coauthored("Cursor AI <ai@cursor.sh>"), "", "", "Cursor"),
    (coauthored("Cursor Agent <199161495+cursoragent@users.noreply.github.com>"), "", "", "Cursor"),
    ("Tidy", "Cursor Agent", "cursoragent@cursor.com", "Cursor"),
    (coauthored("Cursor Grok 4.5 <grok@x.ai>"), "", "", "Grok (through Cursor)"),
    (coauthored("Copilot <175728472+Copilot@users.noreply.github.com>"), "", "",
     "GitHub Copilot coding agent"),
    (coauthored("Codex <codex@openai.com>"), "", "", "OpenAI Codex"),
    ("Add flag\n\nhttps://chatgpt.com/codex/tasks/task_e_1", "", "", "OpenAI Codex"),
    (coauthored("openhands <openhands@all-hands.dev>"), "", "", "OpenHands"),
    ("Refactor", "OpenHands", "opendevin@all-hands.dev", "OpenHands"),
    ("refactor: split io", "Paul Gauthier (aider)", "paul@aider.chat", "Aider"),
    (coauthored("aider (gpt-5) <aider@aider.chat>"), "", "", "Aider"),
    ("aider: Added retries to fetch", "Paul Gauthier", "paul@aider.chat", "Aider"),
    (coauthored("devin-ai-integration[bot] "
                "<158243242+devin-ai-integration[bot]@users.noreply.github.com>"), "", "", "Devin"),
    (coauthored("gemini-code-assist[bot] "
                "<176961590+gemini-code-assist[bot]@users.noreply.github.com>"), "", "",
     "Gemini Code Assist"),
    (coauthored("cubic-dev-ai[bot] <191113872+cubic-dev-ai[bot]@users.noreply.github.com>"),
     "", "", "Repository AI assistants"),
    (coauthored("Amp <amp@ampcode.com>"), "", "", "Amp"),
])
def test_each_observed_agent_signature_is_an_agent_signal_naming_the_agent(
        message, author_name, author_email, agent):
    from gatekeeper.core.model import Commit

    found = detect(HUMAN, [Commit("d" * 40, message, author_email, author_name=author_name)],
                   AGENTS)
    assert found.is_agent and not found.is_automation
    assert any(f"({agent})" in str(s) for s in found.signals), found.signals


@pytest.mark.parametrize("message, author_name, author_email", [
    (coauthored("Kazuhiro Sera <seratch@openai.com>"), "", ""),  # people at the vendors
    (coauthored("Felix Weinberger <fweinberger@anthropic.com>"), "", ""),
    ("Release 0.86", "Paul Gauthier", "aider@paulg.org"),  # a person whose address says aider
    ("Mention aider: in the docs", "Jane", "jane@example.com"),
    (coauthored("Claude Paroz <claude@2xlibre.net>"), "", ""),
])
def test_people_near_agents_are_not_flagged(message, author_name, author_email):
    from gatekeeper.core.model import Commit

    found = detect(HUMAN, [Commit("d" * 40, message, author_email, author_name=author_name)],
                   AGENTS)
    assert not found.is_agent and not found.automation


def test_automation_is_its_own_class_and_not_gated_by_default():
    found = detect(pull(author="dependabot[bot]", head_ref="dependabot/pip/requests-2.33"),
                   [commit("Bump requests", "dependabot[bot]", bot=True)], AGENTS)
    assert found.is_automation and not found.is_agent
    assert "(Dependabot)" in str(found.automation[0])
    assert not found.gated("agents")
    assert found.gated("agents+automation") and found.gated("all")


def test_a_formatter_coauthor_is_automation_but_an_agent_coauthor_beside_it_wins():
    fixer = coauthored("pre-commit-ci[bot] <66853113+pre-commit-ci[bot]@users.noreply.github.com>")
    only_fixer = detect(HUMAN, [commit(fixer, "alice")], AGENTS)
    assert only_fixer.is_automation and not only_fixer.is_agent
    both = detect(HUMAN, [commit(fixer, "alice"), commit(CLAUDE_TRAILER, "alice")], AGENTS)
    assert both.is_agent and not both.is_automation and both.gated("agents")


def test_a_bot_known_as_neither_is_treated_as_an_agent_and_says_so():
    unknown = coauthored("helper[bot] <1+helper[bot]@users.noreply.github.com>")
    found = detect(HUMAN, [commit(unknown, "alice")], AGENTS)
    assert found.is_agent
    assert "neither agent nor automation: treated as an agent" in str(found.signals[0])
    opened = detect(pull(author="helper[bot]", head_ref="x"), [], AGENTS)
    assert opened.is_agent and "treated as an agent" in str(opened.signals[0])


def test_a_repository_cannot_demote_a_known_agent_by_calling_it_automation():
    extra = AgentRules(automation_logins=["copilot-swe-agent[bot]"])
    found = detect(pull(), [], with_additions(AGENTS, extra))
    assert found.is_agent and found.gated("agents")


REAL = json.loads((Path(__file__).parent / "fixtures" / "detection_real_commits.json").read_text())


@pytest.mark.parametrize("case", REAL, ids=lambda c: f"{c['repo']}@{c['sha'][:10]}")
def test_signals_found_in_sampled_histories_classify_the_real_commit(case):
    """Each signal added from bench/data/detection_labels.jsonl, on the commit it came from
    (public history, fetched; message and identities as committed)."""
    from gatekeeper.cli.local import account

    commit = Commit(case["sha"], case["message"], case["author_email"],
                    account(case["author_name"], case["author_email"]),
                    account(case["committer_name"], case["committer_email"]),
                    case["author_name"], case["committer_name"])
    pr = PullRequest(repo="r", number=1, head_sha=case["sha"], head_ref="main",
                     base_ref="main", base_sha="0" * 40, author=User("someone", "User"))
    found = detect(pr, [commit], agent_rules())
    got = "agent" if found.is_agent else "automation" if found.is_automation else "human"
    assert got == case["label"], (case["signal"], found)


def test_the_evidence_says_which_signals_survive_a_rewritten_history():
    from gatekeeper.core.verdict import evidence

    bot = User("copilot-swe-agent[bot]", "Bot")
    commit = Commit("b" * 40, "x\n\nCo-authored-by: Claude <noreply@anthropic.com>",
                    "p@example.com", User("p", "User"), User("p", "User"), "P", "P")
    found = detect(PullRequest(repo="o/r", number=1, head_sha="b" * 40, head_ref="copilot/x",
                               base_ref="main", base_sha="0" * 40, author=bot),
                   [commit], agent_rules())
    durable = [s for s in found.signals if s.durable]
    assert {s.kind for s in durable} >= {"agent account", "branch"}
    assert all(s.detail.startswith("commit ") for s in found.signals if not s.durable)
    text = evidence(found, markdown=False)
    assert f"{len(durable)} of {len(found.signals)} signals would survive a rewritten history" in text


# Issue 40: shapes read as human before. Each is found, and the evidence says what matched.
def one(message: str):
    return detect(HUMAN, [Commit("d" * 40, message, "p@example.com", author_name="P")], AGENTS)


def evidence_of(found) -> str:
    return " | ".join(str(s) for s in found.signals)


@pytest.mark.parametrize("message, evidence", [
    # a bot co-author by its name, whatever its address
    (coauthored("open-swe[bot] <210817458+open-swe@users.noreply.github.com>"),
     "co-authored by open-swe[bot] <210817458+open-swe@users.noreply.github.com> (Open SWE)"),
    (coauthored("helper-agent[bot] <helper@example.com>"),
     "helper-agent[bot] <helper@example.com>, a bot known as neither agent nor automation: "
     "treated as an agent"),
    (coauthored("Helper <helper-agent[bot]@users.noreply.github.com>"),
     "a bot known as neither agent nor automation"),
    # trailer keys in any spelling
    ("Fix\n\nCo-Authored By: Claude <noreply@anthropic.com>\n", "co-authored by Claude"),
    ("Fix\n\nCO-AUTHORED-BY : Claude <noreply@anthropic.com>\n", "co-authored by Claude"),
    ("Fix\n\nco authored by: Cursor Agent <cursoragent@cursor.com>\n", "(Cursor)"),
    ("Fix\n\nAssisted By: Claude Code\n", "'Assisted By: Claude Code'"),
    ("Fix\n\nassisted-by : claude:opus-4\n", "'assisted-by: claude:opus-4'"),
    ("Fix\n\nAssisted_By: Gemini CLI\n", "'Assisted_By: Gemini CLI'"),
    ("Fix\n\nGenerated-with: Codex CLI\n", "'Generated-with: Codex CLI'"),
    ("Fix\n\nSigned-off-by: Claude <noreply@anthropic.com>\n", "has 'Signed-off-by' Claude"),
    # "made with" markers in any spelling, and lines saying an agent made the change
    ("Fix\n\nMade-with: Cursor\n", "says 'Made with Cursor' (Cursor)"),
    ("Fix\n\nMade with Cursor + claude-4.6-opus-high\n", "says 'Made with Cursor' (Cursor)"),
    ("Fix\n\n🤖 generated WITH claude code\n", "says 'Generated with Claude Code' (Claude Code)"),
    ("Fix\n\nCreated with Deep Agents CLI\n", "says 'Created with [Deep Agents CLI]' (Open SWE)"),
    ("Fix\n\nCreated with Claude Code (https://claude.com/claude-code)\n",
     "says 'Created with Claude Code (https://claude.com/claude-code)'"),
    ("Fix\n\n> Written by Copilot CLI\n", "says '> Written by Copilot CLI'"),
    # agents' session and task pages
    ("Fix\n\nDevin run: https://app.devin.ai/sessions/4f2c9e1a\n",
     "links to an agent's session: 'app.devin.ai/sessions/4f2c9e1a' (Devin)"),
    ("Fix\n\n[Open in Web](https://www.cursor.com/agents/bc-103abc90)\n",
     "'www.cursor.com/agents/bc-103abc90' (Cursor)"),
    ("Fix\n\n<a href=\"https://cursor.com/background-agent?bcId=bc-7fde&x=1\">Open</a>\n",
     "'cursor.com/background-agent?bcId=bc-7fde&x=1' (Cursor)"),
    ("Fix\n\nTask: https://JULES.google.com/task/1572895956441806809\n",
     "'JULES.google.com/task/1572895956441806809' (Google Jules)"),
    ("Fix\n\nhttps://claude.ai/code/session_015wiku9ZUu\n",
     "'claude.ai/code/session_015wiku9ZUu' (Claude Code)"),
    ("Fix\n\nRefine: https://app.all-hands.dev/conversations/0239136\n",
     "'app.all-hands.dev/conversations/0239136' (OpenHands)"),
    ("Fix\n\nhttps://app.factory.ai/sessions/901210d4\n", "'app.factory.ai/sessions/901210d4' "
     "(Factory)"),
    ("Fix\n\nhttps://chatgpt.com/codex/tasks/task_e_1\n", "'chatgpt.com/codex/tasks/task_e_1' "
     "(OpenAI Codex)"),
    ("Fix\n\nThread: https://ampcode.com/threads/T-1a2b\n", "'ampcode.com/threads/T-1a2b' (Amp)"),
])
def test_agent_evidence_in_any_spelling_is_found_and_named(message, evidence):
    found = one(message)
    assert found.is_agent and not found.is_automation, message
    assert evidence in evidence_of(found), evidence_of(found)


@pytest.mark.parametrize("message", [
    coauthored("Bob Smith <4242+bobsmith@users.noreply.github.com>"),  # a person
    coauthored("bob <bob@example.com>"),
    "Fix\n\nSigned-off-by: Claude Paroz <claude@2xlibre.net>\n",  # a person named Claude
    "Fix\n\nCo-Authored By: Claude Paroz <claude@2xlibre.net>\n",
    "Fix flaky test\n\nThis was assisted by my colleague Bob: thanks.\n",  # prose, not a trailer
    "Fix\n\nAssisted-by: my colleague Bob\n",  # a trailer naming no agent
    "Fix\n\nThe cursor was made by hand, created with care.\n",
    "Fix\n\nChanges made by cursor keys now scroll the view\n",  # not at the start of a line
    # links to other sites, or to an agent's site that is not a session of it
    "Fix\n\nSee https://example.com/sessions/1 and https://evilcursor.com/agents/x\n",
    "Fix\n\nhttps://notapp.devin.ai/sessions/1 https://app.devin.ai/review/o/r/pull/9\n",
    "Fix\n\n<a href=\"https://chatgpt.com/codex/deeplink?prompt=Fix%20this\">Fix in Codex</a>\n",
    "Fix\n\n<a href=\"https://app.greptile.com/api/ide/cursor?prompt=Fix\">Fix in Cursor</a>\n",
    "Fix\n\nDocs: https://cursor.com/docs and https://jules.google.com/\n",
])
def test_people_prose_and_other_links_stay_human(message):
    found = one(message)
    assert not found.is_agent and not found.automation, evidence_of(found)


@pytest.mark.parametrize("coauthor, name", [
    ("dependabot[bot] <support@github.com>", "Dependabot"),  # by its name
    ("Dependabot <49699333+dependabot[bot]@users.noreply.github.com>", "Dependabot"),
    ("renovate[bot] <renovate@whitesourcesoftware.com>", "Renovate"),
    ("pre-commit-ci[bot] <66853113+pre-commit-ci[bot]@users.noreply.github.com>",
     "pre-commit.ci"),
    ("jentic-one-releaser[bot] <releaser@example.com>",
     "Dependency and release bots seen in sampled histories"),  # a glob in the list
])
def test_an_automation_bot_coauthor_stays_automation_not_gated(coauthor, name):
    found = one(coauthored(coauthor))
    assert found.is_automation and not found.is_agent and not found.gated("agents")
    assert f"({name})" in str(found.automation[0])


def test_what_the_rules_do_not_list_is_not_found_so_the_data_is_what_finds_it():
    """Positive control: the same commits through the same path with the new lists emptied
    are read as human: the lists in rules/agents.yml, not a pattern in code, find them."""
    bare = AGENTS.model_copy(update={"session_links": [], "trailer_keys": []})
    for message in ("Fix\n\nDevin run: https://app.devin.ai/sessions/4f2c9e1a\n",
                    "Fix\n\nAssisted By: Gemini CLI\n"):
        assert one(message).is_agent
        assert not detect(HUMAN, [Commit("d" * 40, message, "p@example.com")], bare).is_agent


def test_a_repository_adds_session_links_and_trailer_keys():
    extra = AgentRules(session_links=["agents.corp.example/runs/"], trailer_keys=["Robot-Pair"])
    rules = with_additions(AGENTS, extra)
    link = "Fix\n\nhttps://agents.corp.example/runs/42\n"
    pair = "Fix\n\nrobot pair: claude\n"
    assert not one(link).is_agent and not one(pair).is_agent  # the control: not known before
    for message in (link, pair):
        assert detect(HUMAN, [Commit("d" * 40, message, "p@example.com")], rules).is_agent


def test_a_policy_cannot_demote_an_agent_coauthor_by_listing_it_as_automation():
    extra = AgentRules(automation_emails=["noreply@anthropic.com", "robot@example.com"],
                       automation_logins=["open-swe[bot]"])
    rules = with_additions(AGENTS, extra)
    for message in (CLAUDE_TRAILER, coauthored("open-swe[bot] <1+open-swe@users.noreply.github.com>")):
        found = detect(HUMAN, [commit(message, "alice")], rules)
        assert found.is_agent and found.gated("agents")
    # the control: an address only the policy lists goes through the same path to automation
    robot = detect(HUMAN, [commit(coauthored("Robot <robot@example.com>"), "alice")], rules)
    assert robot.is_automation and not robot.is_agent


def test_one_normalising_function_reads_every_spelling_alike():
    from gatekeeper.core.detect import normalise

    spellings = ["Co-Authored-By", "co authored by :", "CO_AUTHORED  BY", "[co-authored-by]"]
    assert {normalise(s) for s in spellings} == {"co authored by"}
    assert normalise("Made with [Cursor](https://cursor.com)") == \
        "made with cursor (https //cursor.com)"


def test_the_person_beside_a_bot_coauthor_is_the_requester():
    message = ("Fix\n\nCo-authored-by: open-swe[bot] <1+open-swe@users.noreply.github.com>\n"
               "Co-Authored By: Carol <12345+carol@users.noreply.github.com>\n")
    found = detect(HUMAN, [commit(message, "alice")], AGENTS)
    assert found.is_agent and {"alice", "carol"} <= found.requesters


@pytest.mark.timeout(60)
def test_a_long_trailer_line_is_read_in_linear_time():
    """A co-author line of 200,000 spaces between two names: a name pattern with spaces on
    both sides of it took cubic time (4,000 spaces: 48 s). The control: the agent's trailer
    after it is still read, so the line went through the same parsing."""
    message = "Fix\n\nCo-authored-by: a" + " " * 200_000 + "b\n" + CLAUDE_TRAILER
    found = one(message)
    assert found.is_agent and "co-authored by Claude <noreply@anthropic.com>" in evidence_of(found)
