"""Text the pull request controls, made inert for where it is shown. Pure.

Titles, branches, paths, test names and test output are written by the change under review:
in Slack they must not ping (`<!channel>`) or link (`<https://…|sign in>`); in check-run
markdown they must not become links, images, mentions or break out of a code block.
"""

from __future__ import annotations

import posixpath
import re

_BACKTICKS = re.compile(r"`+")
_FENCE_RUN = re.compile(r"^[ \t]*(`{3,}|~{3,})", re.MULTILINE)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>!|~#&])")  # what can open a construct mid-line
ZWSP = "\u200b"


_TERMINAL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def terminal(text: str) -> str:
    """For a terminal: C0 and C1 controls (ESC sequences' introducers included) and
    bidirectional overrides removed; newlines and tabs kept."""
    return _TERMINAL.sub("", str(text))


# every character that can end a line, move the cursor, start an escape sequence or turn the
# text's direction, and the invisible direction marks
_SHOWN = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                    r"\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match) -> str:
    char = match.group(0)
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100
                                else f"\\u{ord(char):04x}")


def one_line(text: str) -> str:
    """For a terminal, on one line: each such character shown as its escape (`\\n`, `\\x1b`,
    `\\u202e`), so a name cannot start a line of its own, move the cursor or turn the text
    around, and the reader still sees that it was there."""
    return _SHOWN.sub(_escaped, str(text))


def inside_path(path: str) -> str:
    """A repository-relative path as given, or "" when it is absolute or leaves the tree."""
    if not path or path.startswith("/") or "\\" in path:
        return ""
    normal = posixpath.normpath(path)
    return "" if normal == ".." or normal.startswith("../") else normal


def plain(text: str) -> str:
    """One line: control and bidirectional-override characters removed, newlines as spaces."""
    return _CONTROL.sub("", str(text).replace("\r\n", "\n").replace("\n", " "))


def slack(text: str) -> str:
    """Slack mrkdwn: the three characters Slack asks to escape, so `<` cannot open a mention
    or a link; bare URLs, which Slack links on its own, broken by a zero-width space."""
    escaped = plain(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("://", ":/" + ZWSP + "/").replace("www.", "www" + ZWSP + ".")


def slack_code(text: str) -> str:
    """Inline code in Slack: no formatting inside it."""
    return f"`{slack(text).replace('`', chr(0x2018)) or ' '}`"


def md_code(text: str) -> str:
    """A CommonMark code span that its content cannot close (longer backtick fence)."""
    inner = plain(text)
    if not inner:
        return "` `"
    longest = max((len(m) for m in _BACKTICKS.findall(inner)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if inner.startswith("`") or inner.endswith("`") or inner.startswith(" ") else ""
    return f"{fence}{pad}{inner}{pad}{fence}"


def md_fence(text: str, info: str = "") -> str:
    """A fenced block whose fence is longer than any fence-like line inside it."""
    body = _CONTROL.sub("", str(text).replace("\r\n", "\n")).replace("\t", "    ")
    longest = max((len(m) for m in _FENCE_RUN.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def md_text(text: str) -> str:
    """Inline markdown text, one line: emphasis, links, images, HTML, entities escaped.

    GitHub also links bare URLs, `www.` names and @mentions in plain text: a zero-width space
    breaks each (readers see the same characters, nothing is linked or notified).
    """
    escaped = _MD_SPECIAL.sub(r"\\\1", plain(text))
    return (escaped.replace("://", ":" + ZWSP + "//").replace("www.", "www" + ZWSP + ".")
            .replace("@", "@" + ZWSP))


def md_unescape(text: str) -> str:
    """Markdown written by md_text, back to what was written: for pages that escape HTML."""
    return re.sub(r"\\([\\`*_\[\]<>!|~#&])", r"\1", text).replace(ZWSP, "")
