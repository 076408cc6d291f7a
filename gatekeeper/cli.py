"""`gatekeeper serve|worker`."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gatekeeper", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="embedded web server (production: gunicorn app:app)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    worker = sub.add_parser("worker", help="RQ worker on the gatekeeper queues (needs REDIS_URL)")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args.host, args.port)
    return _worker(settings, args.burst)


def _serve(settings, host: str, port: int) -> int:
    from werkzeug.serving import make_server

    from . import jobs
    from .queue import make_backend
    from .web import create_app

    backend = make_backend(settings.redis_url, settings.delivery_ttl_seconds)
    jobs.configure(settings, backend)  # embedded jobs and the web share one store
    app = create_app(settings, backend)
    server = make_server(host, port, app, threaded=True)
    queue = "redis" if settings.redis_url else "embedded (in-process; set REDIS_URL for production)"
    print(f"Gatekeeper listening on http://{host}:{server.server_port}/webhook  queue: {queue}",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def _worker(settings, burst: bool) -> int:
    if not settings.redis_url:
        print("gatekeeper worker needs REDIS_URL; without it `gatekeeper serve` runs jobs "
              "in-process", file=sys.stderr)
        return 2
    from rq import Worker
    from rq.serializers import JSONSerializer

    from . import jobs
    from .queue import QUEUE_NAMES, RedisBackend

    jobs.configure(settings)
    backend = RedisBackend(settings.redis_url, settings.delivery_ttl_seconds)
    if not backend.healthy():
        print("gatekeeper worker: Redis at REDIS_URL is not reachable", file=sys.stderr)
        return 2
    worker = Worker(QUEUE_NAMES, connection=backend.connection, serializer=JSONSerializer)
    worker.work(burst=burst)
    return 0
