"""An OSV-compatible vulnerability service answering from a folder of OSV advisories.

For air-gapped organisations (point GATEKEEPER_OSV_URL at it), for the demo and for tests.
The folder holds PACKAGE/ID.yaml files, as the PyPA advisory database does.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from werkzeug.wrappers import Request, Response

from gatekeeper.cli.httpserver import BackgroundServer


def affects(advisory: dict, name: str, version: str) -> bool:
    for affected in advisory.get("affected", []):
        package = affected.get("package", {})
        if package.get("ecosystem") != "PyPI" or canonicalize_name(package.get("name", "")) != name:
            continue
        if version in affected.get("versions", []):
            return True
        for span in affected.get("ranges", []):
            if span.get("type") == "ECOSYSTEM" and _in_range(span["events"], version):
                return True
    return False


def _in_range(events: list[dict], version: str) -> bool:
    try:
        v = Version(version)
        inside = False
        for event in events:
            if "introduced" in event:
                inside = event["introduced"] == "0" or v >= Version(event["introduced"])
            elif "fixed" in event and inside and v >= Version(event["fixed"]):
                inside = False
        return inside
    except InvalidVersion:
        return False


class OSVServer:
    def __init__(self, root: Path):
        self.root = root
        self.queries: list[tuple[str, str]] = []
        self._server = BackgroundServer(self._wsgi)
        self.url = ""

    def start(self, host: str = "127.0.0.1", port: int = 0) -> OSVServer:
        self.url = self._server.start(host, port) + "/v1/query"
        return self

    def stop(self) -> None:
        self._server.stop()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        if request.method != "POST" or request.path != "/v1/query":
            return Response(status=404)(environ, start_response)
        try:
            query = json.loads(request.get_data())
            name = canonicalize_name(query["package"]["name"])
            version = str(query["version"])
        except (ValueError, KeyError, TypeError):
            return Response('{"message": "expected {package: {name}, version}"}', status=400,
                            mimetype="application/json")(environ, start_response)
        self.queries.append((name, version))
        vulns = []
        folder = self.root / name
        if "/" in name or name.startswith("."):
            folder = self.root / "-"  # never outside the advisory folder
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            advisory = yaml.safe_load(path.read_text())
            if affects(advisory, name, version):
                vulns.append(advisory)
        body = json.dumps({"vulns": vulns} if vulns else {}, default=str)
        return Response(body, mimetype="application/json")(environ, start_response)
