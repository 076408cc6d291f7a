"""`gatekeeper serve|worker|check|replay|manifest|setup|doctor|demo|osv-mirror|protect|policy|
report|simulate|verify|signing-key`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from datetime import UTC
from pathlib import Path

from gatekeeper.cli.failures import COULD_NOT_RUN, INTERRUPTED, USAGE, said, write_traceback
from gatekeeper.core import redact
from gatekeeper.core.escape import one_line
from gatekeeper.service.settings import SettingsError, load_settings, load_stage_config, take_secrets

EXIT_CODES = """exit codes, every command:
  0    done; `check`: passed or not gated
  1    the answer is no: `check` blocked, `doctor` found problems, `policy check|test` found
       errors, `simulate` red, `audit` no records, `replay` not accepted
  2    could not run: settings, GitHub, Redis, the network or a local error (one line says why)
  64   usage error: an unknown command or option, a missing argument
  130  interrupted"""


class Parser(argparse.ArgumentParser):
    """Usage errors exit 64 (EX_USAGE), apart from 1 (a "no") and 2 (could not run)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    root = Parser(prog="gatekeeper", description=__doc__, epilog=EXIT_CODES,
                  formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = root.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="embedded web server (production: gunicorn app:app)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    worker = sub.add_parser("worker", help="RQ worker on the gatekeeper queues (needs REDIS_URL)")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.add_argument("--no-reconcile", action="store_true",
                        help="do not look for ungated open pull requests at start-up")
    worker.add_argument("--health", action="store_true",
                        help="exit 0 when a worker on this host beat lately in Redis (the "
                             "container's health check), else 1 and why")
    sub.add_parser("reconcile", help="gate every open pull request that has no finished gate")
    redeliver = sub.add_parser("redeliver", help="ask GitHub to redeliver failed deliveries")
    redeliver.add_argument("--since", required=True, help="how far back: 90m, 6h, 3d")
    check = sub.add_parser(
        "check", help="run the whole gate on a local git checkout",
        description="Run the gate on the commits from the merge base of BASE to HEAD, as the "
                    "App would on a pull request: agent detection, the tests (set up in the "
                    "sandbox, the base's suite as referee), SAST and the dependency audit; "
                    "the policy comes from BASE. Exit 0 passed or not gated, 1 blocked, "
                    "2 could not run (an error), 3 needs the approver's acknowledgement "
                    "(`/gatekeeper ack RULE`, listed). Human review is not evaluated locally.")
    check.add_argument("path", nargs="?", default=".", help="the git checkout (default: .)")
    check.add_argument("--base", required=True, help="the branch or commit the change targets")
    check.add_argument("--head", default="HEAD", help="the change's branch or commit "
                                                      "(default: HEAD)")
    check.add_argument("--format", choices=["text", "json", "markdown", "sarif"], default="text",
                       help="text for a terminal; json, markdown or SARIF 2.1.0 for tools")
    check.add_argument("--no-cache", action="store_true",
                       help="run every stage even if these exact commits were checked before")
    check.add_argument("--keep-cache", action="store_true",
                       help="leave the package cache (devpi-server) running for the next check; "
                            "by default a check stops the cache it started")
    check.add_argument("--show-preexisting", action="store_true",
                       help="text and markdown: also list findings on lines the change did not "
                            "add, and each tool's finding where several saw the same weakness")
    replay = sub.add_parser("replay", help="send a recorded webhook delivery, signed")
    replay.add_argument("file", type=Path)
    replay.add_argument("--event", required=True, help="the X-GitHub-Event, e.g. pull_request")
    replay.add_argument("--against", help="URL of a running instance; default: in-process")
    audit = sub.add_parser("audit", help="print a pull request's audit trail (needs REDIS_URL)")
    audit.add_argument("--repo", required=True, help="owner/name")
    audit.add_argument("--pr", type=int, required=True)
    sub.add_parser("manifest", help="print the GitHub App manifest (GATEKEEPER_PUBLIC_URL)")
    setup = sub.add_parser("setup", help="register the GitHub App from its manifest with a "
                                         "browser, and write its secrets to a folder")
    setup.add_argument("--public-url", help="where GitHub reaches the App (default "
                                            "GATEKEEPER_PUBLIC_URL)")
    setup.add_argument("--org", help="register it for this organisation (default: your user)")
    setup.add_argument("--secrets", default="secrets", metavar="DIR",
                       help="folder for the App's credentials, owner-only (default ./secrets)")
    setup.add_argument("--port", type=int, default=8765,
                       help="local port of the registration page (default 8765)")
    setup.add_argument("--with-admin", action="store_true",
                       help="also ask for organisation Administration, which "
                            "`gatekeeper protect` needs")
    setup.add_argument("--name", default="Gatekeeper", help="the App's name on GitHub")
    sub.add_parser("doctor", help="check this installation and say how to fix what is wrong")
    protect = sub.add_parser("protect", help="require the gate on an organisation's default "
                                             "branches (an organisation ruleset)")
    protect.add_argument("--org", required=True)
    protect.add_argument("--dry-run", action="store_true", help="show the change, make none")
    policy = sub.add_parser("policy", help="the effective policy of a repository")
    policy_sub = policy.add_subparsers(dest="action", required=True)
    policy_show = policy_sub.add_parser("show", help="each value and where it came from")
    policy_show.add_argument("repo", metavar="OWNER/NAME")
    policy_show.add_argument("--format", choices=["text", "json"], default="text")
    policy_check = policy_sub.add_parser(
        "check", help="validate a policy file offline (exit 1 when it has errors, 2 with no "
                      "file to read, 64 on a usage error; warnings alone exit 0)",
        description="Validate a repository's .github/gatekeeper.yml, or an organisation's "
                    "(--org), offline: every problem with its line, unknown keys with the "
                    "nearest valid key, keys said twice, secrets in tests.env; and, as "
                    "warnings, every setting weaker than the organisation's default.")
    policy_check.add_argument("file", nargs="?", default=".github/gatekeeper.yml")
    policy_check.add_argument("--org", action="store_true",
                              help="the file is an organisation policy (ORG/.github)")
    policy_check.add_argument("--format", choices=["text", "json"], default="text")
    policy_test = policy_sub.add_parser(
        "test", help="run policy test cases offline through the gate's decision (exit 1 "
                     "when an expectation is not met, 2 when a file is invalid)")
    policy_test.add_argument("folder", nargs="?", default=".github/gatekeeper-tests",
                             metavar="DIR", help="org.yml, policy.yml and case files "
                                                 "(default .github/gatekeeper-tests)")
    policy_test.add_argument("--format", choices=["text", "json"], default="text")
    simulate = sub.add_parser(
        "simulate", help="the gate's outcome on a pull request now, if these people approved, "
                         "or under a proposed policy (writes nothing; exit 0 green, 1 red)")
    simulate.add_argument("pull", metavar="OWNER/NAME#N")
    simulate.add_argument("--approve", action="append", default=[], metavar="LOGIN",
                          help="as if LOGIN approved the head commit now (repeatable)")
    simulate.add_argument("--policy", metavar="FILE",
                          help="a proposed .github/gatekeeper.yml for the repository")
    simulate.add_argument("--format", choices=["text", "json"], default="text")
    report = sub.add_parser("report", help="agent activity of an organisation, from the audit "
                                           "trail (needs REDIS_URL)")
    report.add_argument("--org", required=True)
    report.add_argument("--since", default="30d",
                        help="how far back (90m, 6h, 30d) or from a date (2026-11-01)")
    report.add_argument("--until", help="up to this date or time (default: now)")
    report.add_argument("--format", choices=["text", "json", "csv"], default="text")
    verify = sub.add_parser(
        "verify", help="check a commit's signed verdict record offline (exit 0 passed, 1 not "
                       "passed, 2 no record, forged, or not about this commit)")
    verify.add_argument("repo", metavar="OWNER/NAME")
    verify.add_argument("sha", metavar="SHA", help="the full commit SHA")
    verify.add_argument("--envelope", required=True, type=Path, metavar="FILE",
                        help="the record (DSSE envelope JSON), as served at "
                             "/attestations/OWNER/NAME/SHA")
    verify.add_argument("--public-key", required=True, action="append", type=Path,
                        metavar="PEM", help="a trusted Ed25519 public key (repeatable: keep "
                                            "retired keys to check older records)")
    signing = sub.add_parser("signing-key", help="keys for the signed verdict records")
    signing_sub = signing.add_subparsers(dest="action", required=True)
    signing_new = signing_sub.add_parser("new", help="a new Ed25519 pair: the private key to "
                                                     "FILE (mode 0600), the public key printed")
    signing_new.add_argument("--private-out", required=True, type=Path, metavar="FILE")
    cache = sub.add_parser("cache", help="the package cache (devpi-server) in "
                                         "GATEKEEPER_CACHE_DIR: whether it runs, or stop it")
    cache.add_argument("action", choices=["status", "stop"])
    sub.add_parser("demo", help="the gate on an example agent-authored change")
    mirror = sub.add_parser("osv-mirror", help="serve OSV advisories from a folder")
    mirror.add_argument("folder", type=Path)
    mirror.add_argument("--host", default="127.0.0.1")
    mirror.add_argument("--port", type=int, default=8090)
    return root


def main(argv: list[str] | None = None) -> int:
    take_secrets()  # before anything can start a child process that would inherit them
    args = parser().parse_args(argv)
    if args.command not in ("worker", "serve"):  # those stop their own way
        signal.signal(signal.SIGINT, lambda *_: _interrupted(args))
    try:
        return _run(args)
    except KeyboardInterrupt:
        _interrupted(args)


def _interrupted(args) -> None:
    """Ctrl-C: leave at once, from the signal handler itself (the main thread may be waiting
    for stage threads to finish their sandbox runs). The sandboxes die with this process
    (bubblewrap's --die-with-parent); a package cache a check started is stopped."""
    if args.command == "check" and not getattr(args, "keep_cache", False):
        _stop_started_cache()
    print(f"gatekeeper {args.command}: interrupted", file=sys.stderr, flush=True)
    os._exit(INTERRUPTED)


def _run(args) -> int:
    logging.basicConfig(level=logging.WARNING if args.command in ("check", "demo") else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _quiet_pygithub(args.command in ("serve", "worker"))
    try:
        return COMMANDS[args.command](args)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return COULD_NOT_RUN
    except Exception as exc:  # noqa: BLE001 - an operator sees one line, never a traceback
        sentence = said(exc)
        if sentence is None:
            written = write_traceback(exc)
            where = f"; the traceback is in {written}" if written else ""
            sentence = (f"unexpected {exc.__class__.__name__}: "
                        f"{one_line(redact.scrub(str(exc)))[:300]}{where}")
        print(f"gatekeeper {args.command}: {sentence}", file=sys.stderr)
        return COULD_NOT_RUN


def _quiet_pygithub(service: bool) -> None:
    """PyGithub's import gives its logger a bare handler of its own at INFO: its records go
    through ours instead, and a command's refusal is said once (below), not per retry."""
    import github  # noqa: F401 - imported now, so its set-up is undone here

    logger = logging.getLogger("github")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    if not service:
        logger.setLevel(logging.WARNING)


_started_cache: list = []  # the cache folder a check started, for an interrupt to stop


def _stop_started_cache() -> None:
    from gatekeeper.runner.indexcache import other_users, stop_cache

    for folder in _started_cache:
        (folder / "index-cache" / "users" / str(os.getpid())).unlink(missing_ok=True)
        if not other_users(folder):
            stop_cache(folder)


def _serve(args) -> int:
    from werkzeug.serving import make_server

    from gatekeeper.service import jobs
    from gatekeeper.service.queue import backend_of
    from gatekeeper.service.web import create_app

    settings = load_settings()
    backend = backend_of(settings)
    jobs.configure(settings, backend)  # embedded jobs and the web share one store
    server = make_server(args.host, args.port, create_app(settings, backend), threaded=True)
    queue = "redis" if settings.redis_url else "embedded (in-process; set REDIS_URL for production)"
    print(f"Gatekeeper listening on http://{args.host}:{server.server_port}/webhook  "
          f"queue: {queue}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def _worker(args) -> int:
    if args.health:
        return _worker_health()
    settings = load_settings()
    if not settings.redis_url:
        print("gatekeeper worker needs REDIS_URL; without it `gatekeeper serve` runs jobs "
              "in-process", file=sys.stderr)
        return 2
    from rq.serializers import JSONSerializer

    from gatekeeper.core.model import JobRequest
    from gatekeeper.service import jobs
    from gatekeeper.service.queue import QUEUE_NAMES, redis_of

    backend = redis_of(settings)
    if not backend.healthy():
        print("gatekeeper worker: Redis at REDIS_URL is not reachable", file=sys.stderr)
        return 2
    jobs.configure(settings, backend)
    backend.recover()  # what a dispatcher that died had taken
    backend.dispatch()  # deliveries accepted while no worker ran
    if not args.burst:
        _start_dispatcher(settings)
        _warm_cache()
    if not args.no_reconcile:  # deliveries lost while nothing was running are found here
        backend.submit(JobRequest("reconcile-all", "reconcile-all", {}))
    # the scheduler is what brings retried jobs back after their backoff interval
    jobs.GatekeeperWorker(QUEUE_NAMES, connection=backend.connection,
                          serializer=JSONSerializer).work(burst=args.burst, with_scheduler=True)
    return 0


def _worker_health() -> int:
    """Only REDIS_URL is read: the probe runs often and needs no other secret."""
    import socket

    import redis

    from gatekeeper.service.settings import taken
    from gatekeeper.service.workerhealth import worker_problem

    url = (taken("REDIS_URL") or "").strip()
    if not url:
        print("unhealthy: REDIS_URL is not set", file=sys.stderr)
        return 1
    connection = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    problem = worker_problem(connection, socket.gethostname())
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    print("healthy")
    return 0


def _warm_cache() -> None:
    """The package cache started and the pages every set-up needs fetched before the first
    gate asks, so a new worker's first gates find a warm cache. Done before the worker takes
    jobs (a thread holding the cache's start lock across the fork of a job would leave the
    job waiting on itself); its trouble is logged, and the first set-up tries again."""
    import logging

    from gatekeeper.runner.indexcache import IndexUnavailable, ensure_cache
    from gatekeeper.service.settings import load_stage_config

    log = logging.getLogger("gatekeeper.worker")
    try:
        cache = ensure_cache(load_stage_config().cache_dir)
        log.info("package cache ready at %s", cache.url)
    except (IndexUnavailable, OSError) as exc:
        log.warning("package cache not started: %s", exc)


def _start_dispatcher(settings) -> int:
    """A child process that moves accepted deliveries' jobs onto the queues as they come.

    Forked before the RQ worker starts any thread; it ends when its parent is gone.
    """
    import time

    import redis

    from gatekeeper.service.queue import redis_of

    parent = os.getpid()
    child = os.fork()
    if child:
        return child
    code = 0
    try:
        backend = redis_of(settings)
        while os.getppid() == parent:
            try:
                backend.dispatch(wait=2)
            except redis.RedisError as exc:
                logging.getLogger(__name__).warning("dispatcher: %s", exc)
                time.sleep(1)
                try:
                    backend.recover()  # the item it held goes back on the intake list
                except redis.RedisError:
                    pass
    except BaseException:  # noqa: BLE001 - a dying dispatcher's work is recovered at restart
        logging.getLogger(__name__).exception("dispatcher stopped")
        code = 1
    finally:
        os._exit(code)


def _check(args) -> int:
    from gatekeeper.cli import localreport
    from gatekeeper.cli.local import check, exit_code
    from gatekeeper.runner.gitlocal import line_at

    repo = Path(args.path)
    if not (repo / ".git").exists() and not repo.joinpath("HEAD").exists():
        print(f"gatekeeper check: {repo} is not a git checkout", file=sys.stderr)
        return 2
    config = load_stage_config()
    show = sys.stderr.isatty()

    def progress(stage: str, status: str) -> None:
        if show:
            print(f"  {stage}: {status}", file=sys.stderr, flush=True)

    from gatekeeper.runner.indexcache import lease, other_users, running, stop_cache

    already = running(config.cache_dir)
    mine = lease(config.cache_dir)
    if not already:
        _started_cache.append(config.cache_dir)
    try:
        report = check(repo, args.base, args.head, config, progress, not args.no_cache)
    except RuntimeError as exc:  # git could not answer: unknown ref, not a repository
        print(f"gatekeeper check: {exc}", file=sys.stderr)
        return 2
    finally:
        mine.unlink(missing_ok=True)
        # nothing it started is left running; a check beside it that still uses it stops it
        if not already and not args.keep_cache and not other_users(config.cache_dir):
            stop_cache(config.cache_dir)

    def text(r):
        return localreport.text(r, lambda path, n: line_at(repo, args.head, path, n),
                                args.show_preexisting)

    def markdown(r):
        return localreport.markdown(r, args.show_preexisting)

    render = {"text": text, "json": localreport.as_json, "markdown": markdown,
              "sarif": localreport.sarif}[args.format]
    sys.stdout.write(render(report))
    return exit_code(report)


def _cache(args) -> int:
    """The shared package cache a worker or `check --keep-cache` left running: 0 running (or
    stopped), 1 not running (status)."""
    import json as json_

    from gatekeeper.runner.indexcache import running, stop_cache

    folder = load_stage_config().cache_dir
    state = folder / "index-cache" / "server.json"
    if args.action == "stop":
        was = running(folder)
        stop_cache(folder)
        print(f"package cache in {folder}: " + ("stopped" if was else "was not running"))
        return 0
    if not running(folder):
        print(f"package cache in {folder}: not running (a set-up starts it when needed)")
        return 1
    saved = json_.loads(state.read_text())
    print(f"package cache in {folder}: running at http://{saved['host']}:{saved['port']} "
          f"(pid {saved.get('pid')}); stop it with `gatekeeper cache stop`")
    return 0


def _replay(args) -> int:
    from gatekeeper.cli.replay import replay

    if not args.file.is_file():
        print(f"gatekeeper replay: {args.file} does not exist", file=sys.stderr)
        return 2
    from requests.exceptions import InvalidURL, MissingSchema

    try:
        status, body = replay(args.file, args.event, load_settings(), args.against)
    except (InvalidURL, MissingSchema) as exc:  # ValueErrors too: said before "not JSON"
        print(f"gatekeeper replay: --against {one_line(args.against)!r} is not a URL ({exc})",
              file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"gatekeeper replay: {args.file} is not JSON: {exc}", file=sys.stderr)
        return 2
    print(f"{status} {body.strip()}")
    return 0 if status < 300 else 1


def _reconcile(args) -> int:
    from gatekeeper.core.model import JobRequest
    from gatekeeper.service import jobs
    from gatekeeper.service.queue import MemoryBackend, backend_of

    settings = load_settings()
    backend = backend_of(settings)
    jobs.configure(settings, backend)
    if isinstance(backend, MemoryBackend):  # no queue to hand it to: do it here and wait
        # not through jobs.run, which records GitHub's refusals for a worker: said here instead
        result = jobs.reconcile_all(jobs.context(), {})
        backend.wait_idle(3600)
        print(f"reconciled installations {result['installations']}")
        return 0
    backend.submit(JobRequest("reconcile-all", "reconcile-all", {}))
    print("queued a reconcile of every installation")
    return 0


def _redeliver(args) -> int:
    from datetime import datetime

    from gatekeeper.core.activity import parse_window
    from gatekeeper.github.client import GitHubApp

    try:
        cutoff, _ = parse_window(args.since, None, datetime.now(UTC))
    except ValueError as exc:
        print(f"gatekeeper redeliver: {exc}", file=sys.stderr)
        return 2
    asked = GitHubApp(load_settings()).redeliver_failed(cutoff)
    print(f"asked GitHub to redeliver {len(asked)} failed deliveries: {', '.join(asked) or '-'}")
    return 0


def _audit(args) -> int:
    from gatekeeper.service.audit import AuditTrail
    from gatekeeper.service.queue import stored_trail

    try:
        store = stored_trail(load_settings(), "audit")
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    records = AuditTrail(store).records(args.repo, args.pr)
    for record in records:
        print(json.dumps(record, sort_keys=True))
    if not records:
        print(f"no audit records for {args.repo}#{args.pr}", file=sys.stderr)
    return 0 if records else 1


def _setup(args) -> int:
    from gatekeeper.cli.setup import setup

    return setup(args.public_url, args.org, args.secrets, args.port, args.with_admin, args.name)


def _manifest(args) -> int:
    from gatekeeper.github.manifest import manifest

    if not os.environ.get("GATEKEEPER_PUBLIC_URL"):
        print("gatekeeper manifest: set GATEKEEPER_PUBLIC_URL to where GitHub reaches the App "
              "(or register it with `gatekeeper setup --public-url URL`)", file=sys.stderr)
        return 2

    print(json.dumps(manifest(os.environ.get("GATEKEEPER_PUBLIC_URL")), indent=2))
    return 0


def _protect(args) -> int:
    from gatekeeper.cli.protect import protect

    return protect(args.org, args.dry_run)


def _policy(args) -> int:
    if args.action == "test":
        from gatekeeper.cli.policytest import run_suite

        return run_suite(args.folder, args.format)
    if args.action == "check":
        from gatekeeper.cli.policycheck import check_file

        return check_file(args.file, args.org, args.format)
    from gatekeeper.cli.policyshow import show

    return show(args.repo, args.format)


def _simulate(args) -> int:
    from gatekeeper.cli.simulate import simulate

    return simulate(args.pull, args.approve, args.policy, args.format)


def _report(args) -> int:
    from gatekeeper.cli.activityreport import report

    return report(args.org, args.since, args.until, args.format)


def _doctor(args) -> int:
    from gatekeeper.cli.doctor import report

    return report()


def _verify(args) -> int:
    from gatekeeper.cli.verify import verify

    return verify(args.repo, args.sha, args.envelope, args.public_key)


def _signing_key(args) -> int:
    from gatekeeper.cli.verify import new_signing_key

    return new_signing_key(args.private_out)


def _demo(args) -> int:
    from gatekeeper.cli.demo import main as demo

    return demo()


def _osv_mirror(args) -> int:
    from gatekeeper.cli.osvmirror import OSVServer

    if not args.folder.is_dir():
        print(f"gatekeeper osv-mirror: {args.folder} is not a folder", file=sys.stderr)
        return 2
    server = OSVServer(args.folder).start(args.host, args.port)
    print(f"OSV mirror of {args.folder} at {server.url}", flush=True)
    try:
        import threading

        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
    return 0


COMMANDS = {"serve": _serve, "worker": _worker, "check": _check, "replay": _replay, "audit": _audit,
            "reconcile": _reconcile, "redeliver": _redeliver,
            "manifest": _manifest, "setup": _setup, "doctor": _doctor, "demo": _demo,
            "osv-mirror": _osv_mirror,
            "protect": _protect, "policy": _policy, "report": _report,
            "simulate": _simulate, "verify": _verify, "signing-key": _signing_key,
            "cache": _cache}
