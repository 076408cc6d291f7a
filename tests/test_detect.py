import pytest
from factories import AGENTS, BOT, commit, pull

from gatekeeper.core.detect import detect
from gatekeeper.core.policy import AgentRules, with_additions

CLAUDE_TRAILER = "Fix login\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"


@pytest.mark.parametrize("pr,commits,kinds,strong", [
    (pull(), [], {"agent account", "branch"}, True),
    (pull(author="Copilot"), [], {"agent account", "branch"}, True),
    (pull(author="some-ci[bot]", head_ref="fix"), [], {"bot account"}, True),
    (pull(author="alice", bot=False, head_ref="codex/task-1"), [], {"branch"}, False),
    (pull(author="alice", bot=False, head_ref="fix", labels=["AI-generated"]), [], {"label"}, False),
    (pull(author="alice", bot=False, head_ref="fix",
          body="Task: https://chatgpt.com/codex/tasks/task_e_123"), [], {"marker"}, False),
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
    assert any("opened by @COPILOT-SWE-AGENT[BOT] (agent account)" in t and "(strong)" in t for t in text)
    assert any("(hint)" in t for t in text)


def test_cursor_agent_coauthor_trailer_is_an_agent_signal():
    message = "Add retry\n\nCo-authored-by: Cursor <cursoragent@cursor.com>\n"
    found = detect(pull(author="alice", bot=False, head_ref="fix-retry"),
                   [commit(message, "alice")], AGENTS)
    assert found.is_agent and [s.kind for s in found.signals] == ["trailer"]
    assert "alice" in found.requesters
