"""A local HTTP receiver standing in for Slack's incoming webhook: records, can fail on cue."""

from __future__ import annotations

import json

from werkzeug.wrappers import Request, Response

from gatekeeper.cli.httpserver import BackgroundServer


class Receiver:
    def __init__(self):
        self.payloads: list[dict] = []
        self.failures_left = 0
        self.url = ""
        self._server = BackgroundServer(self._wsgi)

    def start(self) -> Receiver:
        self.url = self._server.start() + "/services/T0/B0/secretpart"
        return self

    def stop(self) -> None:
        self._server.stop()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        self.payloads.append(json.loads(request.get_data()))
        if self.failures_left > 0:
            self.failures_left -= 1
            return Response("internal_error", status=500)(environ, start_response)
        return Response("ok")(environ, start_response)
