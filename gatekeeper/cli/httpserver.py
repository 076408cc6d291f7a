"""A WSGI app served from a background thread: the OSV mirror, and test doubles."""

from __future__ import annotations

import threading

from werkzeug.serving import make_server


class BackgroundServer:
    def __init__(self, wsgi):
        self._wsgi = wsgi
        self._server = None
        self.base = ""

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve and return the base URL; port 0 picks a free one."""
        self._server = make_server(host, port, self._wsgi, threaded=True)
        self.base = f"http://{host}:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self.base

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
