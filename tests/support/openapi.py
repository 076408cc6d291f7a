"""Checks a request against GitHub's OpenAPI description: path, method, parameters, body."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from openapi_schema_validator import OAS30Validator, oas30_format_checker

SPEC = Path(__file__).resolve().parent.parent / "fixtures/github-openapi/api.github.com.subset.json"


@dataclass
class Operation:
    method: str
    template: str
    params: dict[str, str]


class OpenAPIValidator:
    def __init__(self, spec_path: Path = SPEC):
        self.spec = json.loads(spec_path.read_text())
        self.routes = []
        for template in self.spec["paths"]:
            pattern = re.sub(r"\{path\}", r"(?P<path>.+)", template)
            pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
            literal = len(re.sub(r"\{\w+\}", "", template))
            self.routes.append((literal, template, re.compile(f"^{pattern}$")))
        self.routes.sort(reverse=True)  # the most literal template wins, as on GitHub

    def match(self, method: str, path: str) -> Operation | None:
        for _, template, regex in self.routes:
            found = regex.match(path)
            if found and method.lower() in self.spec["paths"][template]:
                return Operation(method.lower(), template, found.groupdict())
        return None

    def problems(self, op: Operation, query: dict[str, str], body: bytes) -> list[str]:
        """Everything the real API would reject about this request."""
        spec = self.spec["paths"][op.template][op.method]
        found: list[str] = []
        for param in spec.get("parameters", []):
            param = self._resolve(param)
            where, name = param["in"], param["name"]
            values = op.params if where == "path" else query if where == "query" else {}
            if where not in ("path", "query"):
                continue
            if name not in values:
                if param.get("required"):
                    found.append(f"missing required {where} parameter {name!r}")
                continue
            value = _coerce(values[name], param.get("schema", {}))
            found += [f"{where} parameter {name}: {e}" for e in self._errors(param["schema"], value)]
        request_body = spec.get("requestBody")
        if request_body:
            found += self._body_problems(self._resolve(request_body), body)
        return found

    def _body_problems(self, request_body: dict, body: bytes) -> list[str]:
        if not body:
            return ["request body is required"] if request_body.get("required") else []
        try:
            document = json.loads(body)
        except ValueError:
            return ["request body is not JSON"]
        schema = request_body["content"]["application/json"]["schema"]
        return [f"body: {e}" for e in self._errors(schema, document)]

    def _errors(self, schema: dict, value) -> list[str]:
        # $refs in the schema point into components: give the validator the whole document
        rooted = {**schema, "components": self.spec["components"]}
        validator = OAS30Validator(rooted, format_checker=oas30_format_checker)
        return [
            f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in validator.iter_errors(value)
        ]

    def _resolve(self, node: dict) -> dict:
        while "$ref" in node:
            _, section, name = node["$ref"].split("/")[1:]
            node = self.spec["components"][section][name]
        return node


def _coerce(raw: str, schema: dict):
    kind = schema.get("type")
    if kind == "integer":
        return int(raw) if re.fullmatch(r"-?\d+", raw) else raw
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    return raw
