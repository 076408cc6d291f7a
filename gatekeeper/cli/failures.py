"""What the command line says when a command cannot run: one plain sentence with the fix.

Known failures (a service that does not answer, GitHub refusing a request) are said as
`doctor` says them; anything else is one line naming the exception and the file its
traceback was written to, never a traceback on the terminal.
"""

from __future__ import annotations

import os
import tempfile
import traceback
from pathlib import Path
from urllib.parse import urlsplit

from gatekeeper.core import redact
from gatekeeper.core.escape import one_line

# exit codes of every command; `check` keeps 0 pass, 1 blocked, 2 error (a fixed interface)
OK, FINDINGS, COULD_NOT_RUN, USAGE, INTERRUPTED = 0, 1, 2, 64, 130

DOCTOR = "`gatekeeper doctor` checks every service"


def said(exc: BaseException) -> str | None:
    """The sentence for a known failure anywhere in `exc`'s chain, or None."""
    for error in _chain(exc):
        sentence = _unreachable(error) or _refused(error) or _unexpected_answer(error) or \
            _undecodable(error)
        if sentence:
            return sentence
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    chain = [exc]
    while len(chain) <= 10 and (chain[-1].__cause__ or chain[-1].__context__):
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    return chain


def _unreachable(error: BaseException) -> str | None:
    import requests
    from redis.exceptions import ConnectionError as RedisDown
    from redis.exceptions import TimeoutError as RedisSlow

    if isinstance(error, (RedisDown, RedisSlow)):
        return (f"Redis did not answer ({error.__class__.__name__}): start it or fix "
                f"REDIS_URL; {DOCTOR}")
    if isinstance(error, (requests.ConnectionError, requests.Timeout)):
        url = getattr(getattr(error, "request", None), "url", None) or "the service"
        host = url.split("/")[2] if "://" in url else url
        return (f"{host} did not answer ({error.__class__.__name__}): check GITHUB_API_URL "
                f"(or GATEKEEPER_OSV_URL) and this machine's network; {DOCTOR}")
    return None


def _refused(error: BaseException) -> str | None:
    """GitHub answered with an error status: what it means for an operator, by status."""
    import requests
    from github import GithubException

    if isinstance(error, GithubException):
        status, data, path = error.status, error.data, getattr(error, "asked", "")
    elif isinstance(error, requests.HTTPError) and error.response is not None:
        status, path = error.response.status_code, urlsplit(error.response.url or "").path
        try:
            data = error.response.json()
        except ValueError:
            data = error.response.text[:200]
    else:
        return None
    message = data.get("message", "") if isinstance(data, dict) else str(data or "")
    asked = f" for {path}" if path else ""
    why = f" ({one_line(str(message))[:200]})" if message else ""
    if status == 401:
        return (f"GitHub refused the App's credentials (401{asked}){why}: check that "
                "GITHUB_APP_ID and the private key (GITHUB_PRIVATE_KEY or _PATH) are the same "
                f"App's, and this machine's clock; {DOCTOR}")
    if status == 403:
        return (f"GitHub refused the request (403{asked}){why}: the App lacks a permission "
                "this needs, or a rate limit was hit; grant the permission in the App's "
                "settings and accept it on the installation")
    if status == 404:
        return (f"GitHub answered 404 Not Found{asked}{why}: the App is not installed there, "
                "or what was asked does not exist or is not visible to the App; check the "
                "name and the App's installations")
    return f"GitHub answered {status}{asked}{why}; try again later, or see {DOCTOR}"


def _unexpected_answer(error: BaseException) -> str | None:
    from gatekeeper.github.client import UnexpectedAnswer

    return one_line(str(error)) if isinstance(error, UnexpectedAnswer) else None


def _undecodable(error: BaseException) -> str | None:
    if isinstance(error, UnicodeDecodeError):
        return (f"a file or tool output is not UTF-8 ({one_line(str(error))[:200]}); this is "
                "a bug in gatekeeper, please report it")
    return None


def write_traceback(exc: BaseException) -> Path | None:
    """The full traceback in an owner-only file (secrets scrubbed), for a bug report."""
    text = redact.scrub("".join(traceback.format_exception(exc)))
    try:
        handle, name = tempfile.mkstemp(prefix="gatekeeper-traceback-", suffix=".txt")
        with os.fdopen(handle, "w") as out:
            out.write(text)
    except OSError:
        return None
    return Path(name)
