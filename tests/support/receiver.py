"""A local HTTP receiver standing in for Slack's incoming webhook: records, can fail on cue."""

from __future__ import annotations

import json
import threading

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


class Receiver:
    def __init__(self):
        self.payloads: list[dict] = []
        self.failures_left = 0
        self.url = ""
        self._server = None

    def start(self) -> Receiver:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/services/T0/B0/secretpart"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        self.payloads.append(json.loads(request.get_data()))
        if self.failures_left > 0:
            self.failures_left -= 1
            return Response("internal_error", status=500)(environ, start_response)
        return Response("ok")(environ, start_response)
