"""A labelled corpus of small web applications, vulnerable and safe look-alikes, per CWE family.

Each case is a whole module: a Flask, Django or FastAPI/Starlette application with a health
route, imports, a helper or two and one handler that takes request data (query, form, JSON,
header, cookie or path parameter) and passes it, directly or through a helper, a container,
an object or a branch, to a sink. Safe look-alikes use the same shapes with what makes them
safe: an escaping or quoting function, int(), an allow-list, a containment check, a
parameterised API, a value overwritten by a constant, a branch that can never pass the data,
a safe element of a container.

Written apart from the rule tests in rules/semgrep/*.py and kept out of them; the OWASP
Benchmark for Python is not used here at all (it is kept to judge the result).

    .venv/bin/python bench/sast_corpus.py OUT_DIR     writes OUT_DIR/<family>/<case>.py
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CASES_PER_SIDE = 20  # vulnerable and safe cases per family

# --- frameworks: where request data comes from, how a handler answers ------------------

SOURCES = {
    "flask": [
        ("query", '@app.route("/run")', "def handler():", 'request.args.get("q", "")'),
        ("form", '@app.route("/run", methods=["POST"])', "def handler():",
         'request.form.get("q", "")'),
        ("header", '@app.route("/run")', "def handler():", 'request.headers.get("X-Query", "")'),
        ("cookie", '@app.route("/run")', "def handler():", 'request.cookies.get("q", "")'),
        ("json", '@app.route("/run", methods=["POST"])', "def handler():",
         '(request.get_json(silent=True) or {}).get("q", "")'),
        ("path", '@app.route("/run/<value>")', "def handler(value):", None),
    ],
    "django": [
        ("query", "", "def handler(request):", 'request.GET.get("q", "")'),
        ("form", "", "def handler(request):", 'request.POST.get("q", "")'),
        ("cookie", "", "def handler(request):", 'request.COOKIES.get("q", "")'),
        ("meta", "", "def handler(request):", 'request.META.get("HTTP_X_QUERY", "")'),
        ("header", "", "def handler(request):", 'request.headers.get("X-Query", "")'),
        ("path", "", "def handler(request, value):", None),
    ],
    "fastapi": [
        ("query", '@app.get("/run")', 'def handler(request: Request, q: str = ""):', "q"),
        ("path", '@app.get("/run/{value}")', "def handler(request: Request, value: str):", None),
        ("query-params", '@app.get("/run")', "async def handler(request: Request):",
         'request.query_params.get("q", "")'),
        ("header", '@app.get("/run")',
         'def handler(request: Request, x_query: str = Header("")):', "x_query"),
        ("cookie", '@app.get("/run")', "async def handler(request: Request):",
         'request.cookies.get("q", "")'),
        ("json", '@app.post("/run")', "async def handler(request: Request):",
         '(await request.json()).get("q", "")'),
    ],
}

HEADERS = {
    "flask": ["from flask import Flask, abort, jsonify, request, session",
              "", "app = Flask(__name__)", 'app.secret_key = "change-me"', "",
              "", '@app.route("/health")', "def health():", '    return jsonify(status="ok")'],
    "django": ["from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse",
               "from django.urls import path", "", "",
               "def health(request):", '    return JsonResponse({"status": "ok"})'],
    "fastapi": ["from fastapi import FastAPI, Header, HTTPException, Request", "",
                "app = FastAPI()", "", "", '@app.get("/health")', "def health():",
                '    return {"status": "ok"}'],
}
FOOTERS = {"django": ["", "", 'urlpatterns = [path("health/", health), '
                      'path("run/", handler), path("run/<str:value>/", handler)]']}


def answer(fw: str, expr: str) -> str:
    """A JSON answer: the data is encoded, never markup."""
    return {"flask": f"return jsonify(result={expr})",
            "django": f'return JsonResponse({{"result": {expr}}})',
            "fastapi": f'return {{"result": {expr}}}'}[fw]


def refuse(fw: str) -> str:
    return {"flask": "abort(400)", "django": 'return HttpResponseBadRequest("bad input")',
            "fastapi": "raise HTTPException(status_code=400)"}[fw]


# --- families: sinks, safe forms ---------------------------------------------------------

Lines = list[str]
Sink = Callable[[str, str], Lines]  # (framework, expression) -> handler lines


@dataclass
class Family:
    name: str
    cwes: set[str]
    imports: list[str]
    const: str  # a harmless literal for this sink
    sinks: list[Sink]
    safe_apis: list[Sink]
    sanitizers: list[Callable[[str], str]] = field(default_factory=list)
    int_use: Sink | None = None
    allowed: str = '{"alpha", "beta", "gamma"}'
    imports_by_fw: dict[str, list[str]] = field(default_factory=dict)
    taint: bool = True  # False: the vulnerability is in the call's form, not the data flow


def ok_after(lines: Lines, fw: str, expr: str = '"done"') -> Lines:
    return [*lines, answer(fw, expr)]


F = {}

F["command-injection"] = Family(
    "command-injection", {"CWE-78", "CWE-77"}, ["import os", "import shlex", "import subprocess"],
    '"localhost"',
    sinks=[
        lambda fw, e: ok_after([f'out = subprocess.run("ping -c 1 " + {e}, shell=True, '
                                'capture_output=True, text=True).stdout'], fw, "out"),
        lambda fw, e: ok_after([f'status = os.system("grep %s /var/log/app.log" % {e})'],
                               fw, "status"),
        lambda fw, e: ok_after([f'out = os.popen(f"nslookup {{{e}}}").read()'], fw, "out"),
        lambda fw, e: ok_after([f'out = subprocess.check_output("wc -l {{}}".format({e}), '
                                'shell=True)'], fw, "out.decode()"),
    ],
    safe_apis=[
        lambda fw, e: ok_after([f'out = subprocess.run(["ping", "-c", "1", {e}], '
                                'capture_output=True, text=True).stdout'], fw, "out"),
        lambda fw, e: ok_after([f'out = subprocess.check_output(["grep", "--", {e}, '
                                '"/var/log/app.log"])'], fw, "out.decode()"),
    ],
    sanitizers=[lambda e: f"shlex.quote({e})"],
    int_use=lambda fw, n: ok_after([f'status = os.system("sleep %d" % {n})'], fw, "status"),
    allowed='{"localhost", "example.com", "example.org"}',
)

F["code-injection"] = Family(
    "code-injection", {"CWE-94", "CWE-95"}, ["import ast", "import json"], '"1 + 2"',
    sinks=[
        lambda fw, e: ok_after([f"result = eval({e})"], fw, "str(result)"),
        lambda fw, e: ok_after(["scope = {}", f'exec("result = " + {e}, scope)'], fw,
                               'str(scope.get("result"))'),
        lambda fw, e: ok_after([f'code = compile({e}, "<expr>", "eval")',
                                "result = eval(code)"], fw, "str(result)"),
    ],
    safe_apis=[
        lambda fw, e: ok_after([f"result = ast.literal_eval({e})"], fw, "str(result)"),
        lambda fw, e: ok_after([f"result = json.loads({e})"], fw, "result"),
    ],
    sanitizers=[lambda e: f"repr({e})"],
    int_use=lambda fw, n: ok_after([f'result = eval("%d * 2" % {n})'], fw, "result"),
    allowed='{"1 + 1", "2 * 3", "10 / 2"}',
)

F["sql-injection"] = Family(
    "sql-injection", {"CWE-89"}, ["import sqlite3"], '"alice"',
    sinks=[
        lambda fw, e: ok_after(['db = sqlite3.connect("app.db")', "cur = db.cursor()",
                                f"cur.execute(\"SELECT * FROM users WHERE name = '\" + {e} + \"'\")",
                                "rows = cur.fetchall()"], fw, "len(rows)"),
        lambda fw, e: ok_after(['db = sqlite3.connect("app.db")',
                                f"query = f\"DELETE FROM sessions WHERE user = '{{{e}}}'\"",
                                "db.execute(query)", "db.commit()"], fw),
        lambda fw, e: ok_after(['db = sqlite3.connect("app.db")',
                                f"rows = db.execute(\"SELECT id FROM items WHERE tag = '%s'\" "
                                f"% {e}).fetchall()"], fw, "len(rows)"),
        lambda fw, e: ok_after(["from sqlalchemy import create_engine, text",
                                'engine = create_engine("sqlite:///app.db")',
                                "with engine.connect() as conn:",
                                f"    rows = conn.execute(text(\"SELECT * FROM orders WHERE ref = '{{}}'\""
                                f".format({e}))).fetchall()"], fw, "len(rows)"),
    ],
    safe_apis=[
        lambda fw, e: ok_after(['db = sqlite3.connect("app.db")', "cur = db.cursor()",
                                f'cur.execute("SELECT * FROM users WHERE name = ?", ({e},))',
                                "rows = cur.fetchall()"], fw, "len(rows)"),
        lambda fw, e: ok_after(["from sqlalchemy import create_engine, text",
                                'engine = create_engine("sqlite:///app.db")',
                                "with engine.connect() as conn:",
                                '    rows = conn.execute(text("SELECT * FROM orders WHERE ref = '
                                f':ref"), {{"ref": {e}}}).fetchall()'], fw, "len(rows)"),
    ],
    int_use=lambda fw, n: ok_after(['db = sqlite3.connect("app.db")',
                                    f'rows = db.execute("SELECT * FROM users WHERE id = %d" % {n})'
                                    ".fetchall()"], fw, "len(rows)"),
    allowed='{"alice", "bob", "carol"}',
)

F["path-traversal"] = Family(
    "path-traversal", {"CWE-22", "CWE-23", "CWE-36", "CWE-73"}, ["import os", "from pathlib import Path"],
    '"report.txt"',
    sinks=[
        lambda fw, e: ok_after(['base = "/srv/files"',
                                f"with open(os.path.join(base, {e})) as handle:",
                                "    text = handle.read()"], fw, "text"),
        lambda fw, e: ok_after([f'text = (Path("/srv/files") / {e}).read_text()'], fw, "text"),
        lambda fw, e: ok_after([f'os.remove("/srv/uploads/" + {e})'], fw),
        lambda fw, e: ok_after([f'with open(f"/srv/reports/{{{e}}}.csv", "rb") as handle:',
                                "    size = len(handle.read())"], fw, "size"),
    ],
    safe_apis=[
        lambda fw, e: ok_after(['base = os.path.realpath("/srv/files")',
                                f"full = os.path.realpath(os.path.join(base, {e}))",
                                "if not full.startswith(base + os.sep):",
                                "    return " + answer(fw, '"not found"').removeprefix("return "),
                                "with open(full) as handle:", "    text = handle.read()"], fw, "text"),
        lambda fw, e: ok_after(["from werkzeug.security import safe_join",
                                f'target = safe_join("/srv/files", {e})',
                                "if target is None:",
                                "    return " + answer(fw, '"not found"').removeprefix("return "),
                                "with open(target) as handle:", "    text = handle.read()"], fw,
                               "text"),
    ],
    sanitizers=[lambda e: f"os.path.basename({e})",
                lambda e: f"__import__('werkzeug.utils').utils.secure_filename({e})"],
    int_use=lambda fw, n: ok_after([f'with open("/srv/reports/%d.csv" % {n}) as handle:',
                                    "    text = handle.read()"], fw, "text"),
    allowed='{"report.txt", "summary.txt", "notes.txt"}',
)
# secure_filename imported normally reads better
F["path-traversal"].sanitizers[1] = lambda e: f"secure_filename({e})"
F["path-traversal"].imports.append("from werkzeug.utils import secure_filename")


def _html(fw: str, markup: str) -> Lines:
    """Return markup as an HTML response in each framework (a sink when markup is tainted)."""
    return {"flask": [f"return {markup}"],
            "django": [f"return HttpResponse({markup})"],
            "fastapi": [f"return HTMLResponse({markup})"]}[fw]


F["xss"] = Family(
    "xss", {"CWE-79", "CWE-80"}, ["import html", "from markupsafe import Markup, escape"],
    '"guest"',
    sinks=[
        lambda fw, e: _html(fw, f'"<p>Hello " + {e} + "</p>"'),
        lambda fw, e: _html(fw, f'f"<h1>Results for {{{e}}}</h1>"'),
        lambda fw, e: [f'page = "<ul><li>{{}}</li></ul>".format({e})', *_html(fw, "page")],
        lambda fw, e: [f'banner = Markup("<b>%s</b>" % {e})', *_html(fw, "str(banner)")],
    ],
    safe_apis=[
        lambda fw, e: {"flask": ["from flask import render_template_string",
                                 f'return render_template_string("<p>Hello {{{{ name }}}}</p>", name={e})'],
                       "django": ["from django.utils.html import format_html",
                                  f'return HttpResponse(format_html("<p>Hello {{}}</p>", {e}))'],
                       "fastapi": [f'return {{"greeting": "Hello " + {e}}}']}[fw],
        lambda fw, e: [answer(fw, f'"Hello " + {e}')],
    ],
    sanitizers=[lambda e: f"escape({e})", lambda e: f"html.escape({e})"],
    int_use=lambda fw, n: _html(fw, f'"<p>Page %d</p>" % {n}'),
    allowed='{"guest", "member", "admin"}',
    imports_by_fw={"fastapi": ["from fastapi.responses import HTMLResponse"]},
)


def _redirect(fw: str, url: str) -> Lines:
    return {"flask": [f"return redirect({url})"],
            "django": [f"return HttpResponseRedirect({url})"],
            "fastapi": [f"return RedirectResponse({url})"]}[fw]


F["open-redirect"] = Family(
    "open-redirect", {"CWE-601"}, ["from urllib.parse import urlparse"], '"/home"',
    sinks=[
        lambda fw, e: _redirect(fw, e),
        lambda fw, e: _redirect(fw, f'"https://" + {e} + "/welcome"'),
        lambda fw, e: [f"target = {e} or \"/\"", *_redirect(fw, "target")],
        lambda fw, e: _redirect(fw, f'f"{{{e}}}?from=login"'),
    ],
    safe_apis=[
        lambda fw, e: [f"if urlparse({e}).netloc or urlparse({e}).scheme:",
                       "    " + refuse(fw), *_redirect(fw, e)],
        lambda fw, e: _redirect(fw, f'"/profile/" + {e}'),
        lambda fw, e: _redirect(fw, f'f"https://www.example.com/search?q={{{e}}}"'),
    ],
    int_use=lambda fw, n: _redirect(fw, f'"/orders/%d" % {n}'),
    allowed='{"/home", "/settings", "/logout"}',
    imports_by_fw={"flask": ["from flask import redirect"],
                   "django": ["from django.http import HttpResponseRedirect"],
                   "fastapi": ["from fastapi.responses import RedirectResponse"]},
)

F["xxe"] = Family(
    "xxe", {"CWE-611", "CWE-776"}, ["import xml.sax", "from xml.dom import pulldom",
                                    "from lxml import etree"],
    '"<order><id>1</id></order>"',
    sinks=[
        lambda fw, e: ok_after(["parser = etree.XMLParser(resolve_entities=True)",
                                f"root = etree.fromstring({e}.encode(), parser)"], fw, "root.tag"),
        lambda fw, e: ok_after(["parser = etree.XMLParser(load_dtd=True, no_network=False)",
                                f"doc = etree.fromstring({e}.encode(), parser=parser)"], fw,
                               "doc.tag"),
        lambda fw, e: ok_after(["import io", "reader = xml.sax.make_parser()",
                                "reader.setFeature(xml.sax.handler.feature_external_ges, True)",
                                f"reader.parse(io.StringIO({e}))"], fw),
        lambda fw, e: ok_after(["sax = xml.sax.make_parser()",
                                "sax.setFeature(xml.sax.handler.feature_external_ges, True)",
                                f"events = pulldom.parseString({e}, sax)",
                                "count = sum(1 for _ in events)"], fw, "count"),
    ],
    safe_apis=[
        lambda fw, e: ok_after(["import defusedxml.ElementTree as SafeTree",
                                f"root = SafeTree.fromstring({e})"], fw, "root.tag"),
        lambda fw, e: ok_after(["parser = etree.XMLParser(resolve_entities=False, no_network=True)",
                                f"root = etree.fromstring({e}.encode(), parser)"], fw, "root.tag"),
        lambda fw, e: ok_after(["import io", "reader = xml.sax.make_parser()",
                                "reader.setFeature(xml.sax.handler.feature_external_ges, False)",
                                f"reader.parse(io.StringIO({e}))"], fw),
        lambda fw, e: ok_after(["import xml.etree.ElementTree as ElementTree",
                                f"root = ElementTree.fromstring({e})"], fw, "root.tag"),
    ],
    allowed='{"<a/>", "<b/>"}',
)

F["ldap-injection"] = Family(
    "ldap-injection", {"CWE-90"}, ["import ldap", "from ldap.filter import escape_filter_chars"],
    '"alice"',
    sinks=[
        lambda fw, e: ok_after(['conn = ldap.initialize("ldap://ldap.example.com")',
                                'found = conn.search_s("ou=people,dc=example,dc=com", '
                                f'ldap.SCOPE_SUBTREE, "(uid=" + {e} + ")")'], fw, "len(found)"),
        lambda fw, e: ok_after(["from ldap3 import Connection, Server",
                                'conn = Connection(Server("ldap.example.com"), auto_bind=True)',
                                'conn.search("dc=example,dc=com", '
                                f'f"(&(objectClass=person)(cn={{{e}}}))")'], fw,
                               "len(conn.entries)"),
        lambda fw, e: ok_after(['conn = ldap.initialize("ldap://ldap.example.com")',
                                f'flt = "(&(mail=%s)(active=TRUE))" % {e}',
                                'found = conn.search_s("dc=example,dc=com", ldap.SCOPE_SUBTREE, flt)'],
                               fw, "len(found)"),
    ],
    safe_apis=[
        lambda fw, e: ok_after(['conn = ldap.initialize("ldap://ldap.example.com")',
                                'flt = ldap.filter.filter_format("(uid=%s)", [' + e + "])",
                                'found = conn.search_s("dc=example,dc=com", ldap.SCOPE_SUBTREE, flt)'],
                               fw, "len(found)"),
    ],
    sanitizers=[lambda e: f"escape_filter_chars({e})"],
    int_use=lambda fw, n: ok_after(['conn = ldap.initialize("ldap://ldap.example.com")',
                                    'found = conn.search_s("dc=example,dc=com", ldap.SCOPE_SUBTREE, '
                                    f'"(uidNumber=%d)" % {n})'], fw, "len(found)"),
    allowed='{"alice", "bob", "carol"}',
)

F["xpath-injection"] = Family(
    "xpath-injection", {"CWE-643"}, ["from lxml import etree"], '"alice"',
    sinks=[
        lambda fw, e: ok_after(['tree = etree.parse("users.xml")',
                                f"found = tree.xpath(\"//user[@name='\" + {e} + \"']\")"], fw,
                               "len(found)"),
        lambda fw, e: ok_after(['root = etree.parse("users.xml").getroot()',
                                f"found = root.xpath(f\"//account[login='{{{e}}}']/email/text()\")"],
                               fw, "[str(x) for x in found]"),
        lambda fw, e: ok_after(["import xml.etree.ElementTree as ElementTree",
                                'tree = ElementTree.parse("users.xml")',
                                f"found = tree.findall(\".//user[@role='%s']\" % {e})"], fw,
                               "len(found)"),
    ],
    safe_apis=[
        lambda fw, e: ok_after(['tree = etree.parse("users.xml")',
                                f'found = tree.xpath("//user[@name=$name]", name={e})'], fw,
                               "len(found)"),
        lambda fw, e: ok_after(['find_user = etree.XPath("//user[@name=$name]")',
                                f'found = find_user(etree.parse("users.xml"), name={e})'], fw,
                               "len(found)"),
    ],
    int_use=lambda fw, n: ok_after(['tree = etree.parse("users.xml")',
                                    f'found = tree.xpath("//user[@id=%d]" % {n})'], fw, "len(found)"),
    allowed='{"alice", "bob", "carol"}',
)

F["deserialization"] = Family(
    "deserialization", {"CWE-502"}, ["import base64", "import json", "import pickle", "import yaml"],
    '"{}"',
    sinks=[
        lambda fw, e: ok_after([f"state = pickle.loads(base64.b64decode({e}))"], fw, "str(state)"),
        lambda fw, e: ok_after([f"config = yaml.load({e}, Loader=yaml.Loader)"], fw, "str(config)"),
        lambda fw, e: ok_after([f"config = yaml.unsafe_load({e})"], fw, "str(config)"),
        lambda fw, e: ok_after(["import marshal", f"code = marshal.loads(bytes.fromhex({e}))"], fw,
                               "str(code)"),
    ],
    safe_apis=[
        lambda fw, e: ok_after([f"state = json.loads({e})"], fw, "state"),
        lambda fw, e: ok_after([f"config = yaml.safe_load({e})"], fw, "str(config)"),
        lambda fw, e: ok_after([f"config = yaml.load({e}, Loader=yaml.SafeLoader)"], fw,
                               "str(config)"),
        lambda fw, e: ok_after([f"state = json.loads(base64.b64decode({e}))"], fw, "state"),
    ],
    allowed='{"{}", "[]"}',
)


def _session(fw: str, key: str, value: str) -> Lines:
    return {"flask": [f'session["{key}"] = {value}'],
            "django": [f'request.session["{key}"] = {value}'],
            "fastapi": [f'request.session["{key}"] = {value}']}[fw]


F["trust-boundary"] = Family(
    "trust-boundary", {"CWE-501"}, [], '"guest"',
    sinks=[
        lambda fw, e: ok_after(_session(fw, "user", e), fw),
        lambda fw, e: ok_after(_session(fw, "role", f"{e}.lower()"), fw),
        lambda fw, e: ok_after([f"profile = {{\"display\": {e}}}", *_session(fw, "profile", "profile")], fw),
    ],
    safe_apis=[
        lambda fw, e: ok_after([*_session(fw, "last_search_length", f"len({e})")], fw),
        lambda fw, e: ok_after([*_session(fw, "visited", "True")], fw, e),
    ],
    int_use=lambda fw, n: ok_after(_session(fw, "page", n), fw),
    allowed='{"guest", "member"}',
)


def _cookie(fw: str, args: str) -> Lines:
    return {"flask": ['response = jsonify(status="ok")', f"response.set_cookie({args})",
                      "return response"],
            "django": ['response = JsonResponse({"status": "ok"})', f"response.set_cookie({args})",
                       "return response"],
            "fastapi": ['response = JSONResponse({"status": "ok"})',
                        f"response.set_cookie({args})", "return response"]}[fw]


F["insecure-cookie"] = Family(
    "insecure-cookie", {"CWE-614", "CWE-1004", "CWE-315"}, [], '"light"',
    sinks=[
        lambda fw, e: _cookie(fw, f'"theme", {e}'),
        lambda fw, e: _cookie(fw, f'"session_hint", {e}, httponly=True'),
        lambda fw, e: _cookie(fw, f'"prefs", {e}, secure=False, httponly=True'),
        lambda fw, e: _cookie(fw, f'"last_search", {e}, secure=True, max_age=3600'),
    ],
    safe_apis=[
        lambda fw, e: _cookie(fw, f'"theme", {e}, secure=True, httponly=True, samesite="Lax"'),
        lambda fw, e: _cookie(fw, f'"prefs", {e}, httponly=True, secure=True'),
    ],
    imports_by_fw={"fastapi": ["from fastapi.responses import JSONResponse"]},
    taint=False,
)

F["ssrf"] = Family(
    "ssrf", {"CWE-918"}, ["import requests", "from urllib.parse import urlparse",
                          "import urllib.request"], '"https://api.example.com/status"',
    sinks=[
        lambda fw, e: ok_after([f"reply = requests.get({e}, timeout=5)"], fw, "reply.status_code"),
        lambda fw, e: ok_after([f'reply = requests.post("http://" + {e} + "/hooks", json={{}}, '
                                "timeout=5)"], fw, "reply.status_code"),
        lambda fw, e: ok_after([f"with urllib.request.urlopen({e}, timeout=5) as reply:",
                                "    body = reply.read()"], fw, "len(body)"),
        lambda fw, e: ok_after([f'reply = requests.get(f"{{{e}}}/api/v1/health", timeout=5)'], fw,
                               "reply.status_code"),
    ],
    safe_apis=[
        lambda fw, e: ok_after([f'reply = requests.get("https://api.example.com/users/" + {e}, '
                                "timeout=5)"], fw, "reply.status_code"),
        lambda fw, e: ok_after([f"if urlparse({e}).hostname not in {{\"api.example.com\", "
                                '"cdn.example.com"}:', "    " + refuse(fw),
                                f"reply = requests.get({e}, timeout=5)"], fw, "reply.status_code"),
        lambda fw, e: ok_after([f'reply = requests.get(f"https://weather.example.com/v1/{{{e}}}", '
                                "timeout=5)"], fw, "reply.status_code"),
    ],
    int_use=lambda fw, n: ok_after([f'reply = requests.get("http://10.0.0.%d/status" % {n}, '
                                    "timeout=5)"], fw, "reply.status_code"),
    allowed='{"https://api.example.com/status", "https://cdn.example.com/status"}',
)

F["weak-hash"] = Family(
    "weak-hash", {"CWE-328", "CWE-327", "CWE-916"}, ["import hashlib"], '"guest"',
    sinks=[
        lambda fw, e: ok_after([f"digest = hashlib.md5({e}.encode()).hexdigest()",
                                "token_store = {'api_token_hash': digest}"], fw, "len(token_store)"),
        lambda fw, e: ok_after([f"signature = hashlib.sha1(({e} + 'server-secret').encode()).hexdigest()"],
                               fw, "signature"),
        lambda fw, e: ok_after([f'fingerprint = hashlib.new("md5", {e}.encode()).hexdigest()'], fw,
                               "fingerprint"),
        lambda fw, e: ok_after(["from cryptography.hazmat.primitives import hashes",
                                "hasher = hashes.Hash(hashes.SHA1())",
                                f"hasher.update({e}.encode())"], fw, "hasher.finalize().hex()"),
    ],
    safe_apis=[
        lambda fw, e: ok_after([f"digest = hashlib.sha256({e}.encode()).hexdigest()"], fw, "digest"),
        lambda fw, e: ok_after([f"etag = hashlib.md5({e}.encode(), usedforsecurity=False).hexdigest()"],
                               fw, "etag"),
        lambda fw, e: ok_after([f"key = hashlib.blake2b({e}.encode(), digest_size=16).hexdigest()"],
                               fw, "key"),
        lambda fw, e: ok_after(["import os", "salt = os.urandom(16)",
                                f'derived = hashlib.pbkdf2_hmac("sha256", {e}.encode(), salt, 600000)'],
                               fw, "derived.hex()"),
    ],
    taint=False,
)

F["weak-random"] = Family(
    "weak-random", {"CWE-330", "CWE-338"}, ["import random", "import secrets", "import string"],
    '"guest"',
    sinks=[
        lambda fw, e: ok_after(['reset_token = "".join(random.choice(string.ascii_letters) '
                                "for _ in range(32))",
                                f'pending = {{"user": {e}, "token": reset_token}}'], fw,
                               'pending["user"]'),
        lambda fw, e: _cookie(fw, f'"remember_me", str(random.getrandbits(64)) + {e}, '
                                  "secure=True, httponly=True"),
        lambda fw, e: ok_after([*_session(fw, "csrf", "str(random.random())")], fw, e),
        lambda fw, e: ok_after(["otp = random.randint(100000, 999999)",
                                f"codes = {{{e}: otp}}"], fw, "len(codes)"),
    ],
    safe_apis=[
        lambda fw, e: ok_after(["reset_token = secrets.token_urlsafe(32)",
                                f'pending = {{"user": {e}, "token": reset_token}}'], fw,
                               'pending["user"]'),
        lambda fw, e: _cookie(fw, f'"remember_me", secrets.token_hex(16) + {e}, secure=True, '
                                  "httponly=True"),
        lambda fw, e: ok_after(['tips = ["Drink water", "Stretch", "Take a walk"]',
                                "tip = random.choice(tips)"], fw, f"tip + {e}"),
        lambda fw, e: ok_after(["questions = list(range(10))", "random.shuffle(questions)"], fw,
                               f"[questions, {e}]"),
        lambda fw, e: ok_after(["otp = random.SystemRandom().randint(100000, 999999)",
                                f"codes = {{{e}: otp}}"], fw, "len(codes)"),
    ],
    taint=False,
)
for name in ("insecure-cookie", "weak-random"):
    F[name].imports_by_fw.setdefault("fastapi", []).append(
        "from fastapi.responses import JSONResponse")

# --- flows: how request data reaches the sink -----------------------------------------

HELPERS = {
    "helper": ["def normalise(text):", '    """Trim what users paste."""', "    return text.strip()"],
    "object": ["class Query:", "    def __init__(self, text):", "        self.text = text"],
}


def vulnerable_flows():
    return [
        ("direct", [], "value"),
        ("helper", ["bar = normalise(value)"], "bar"),
        ("container", ['fields = {"name": value, "kind": "user"}', 'bar = fields["name"]'], "bar"),
        ("object", ["query = Query(value)"], "query.text"),
        ("branch", ["bar = value", "if not bar:", '    bar = "empty"'], "bar"),
        ("loop", ["pieces = []", 'for piece in value.split(","):', "    pieces.append(piece.strip())",
                  'bar = ",".join(pieces)'], "bar"),
    ]


def safe_flows(fam: Family):
    const = fam.const
    flows = [("overwrite", ["bar = value", f"bar = {const}"], "bar"),
             ("dead-branch", ["num = 86", "if (7 * 42) - num > 200:", f"    bar = {const}",
                              "else:", "    bar = value"], "bar"),
             ("safe-element", [f"items = [{const}, value]", "bar = items[0]"], "bar")]
    return flows


def handler_body(fw: str, src: str | None) -> Lines:
    return [f"value = {src}"] if src else []


def render(fam: Family, fw: str, source, flow_lines: Lines, body: Lines, helper: str | None,
           doc: str) -> str:
    _, decorator, signature, src = source
    lines = [f'"""{doc}"""', ""]
    imports = sorted(set(fam.imports + fam.imports_by_fw.get(fw, [])))
    lines += [*imports, *HEADERS[fw][:1]] if imports else HEADERS[fw][:1]
    lines += HEADERS[fw][1:]
    if fam.name in ("ldap-injection",) or "ALLOWED" in "\n".join(body + flow_lines):
        lines += ["", f"ALLOWED = {fam.allowed}"]
    if helper:
        lines += ["", "", *HELPERS[helper]]
    lines += ["", ""]
    if fw == "django":
        signature = signature
    elif fw == "fastapi" and "await" in "\n".join(body + flow_lines + [src or ""]) \
            and not signature.startswith("async"):
        signature = "async " + signature
    if decorator:
        lines.append(decorator)
    lines.append(signature)
    for line in [*handler_body(fw, src), *flow_lines, *body]:
        lines.append("    " + line)
    lines += FOOTERS.get(fw, [])
    return "\n".join(lines) + "\n"


def cases(fam: Family):
    """CASES_PER_SIDE vulnerable and as many safe cases, cycling through frameworks, sources,
    sinks and flows so that every combination kind appears."""
    frameworks = ["flask", "django", "fastapi"]
    out = []
    vflows = vulnerable_flows() if fam.taint else [("direct", [], "value")]
    combos = itertools.cycle(itertools.product(range(len(fam.sinks)), range(len(vflows))))
    for i in range(CASES_PER_SIDE):
        fw = frameworks[i % 3]
        source = SOURCES[fw][(i // 3) % len(SOURCES[fw])]
        sink, flow = next(combos)
        name, flow_lines, expr = vflows[flow]
        body = fam.sinks[sink](fw, expr)
        helper = name if name in HELPERS else None
        out.append((f"vuln-{i:02d}-{fw}-{source[0]}-{name}-s{sink}", True,
                    render(fam, fw, source, flow_lines, body, helper,
                           f"{fam.name}: {name} flow into sink {sink} ({fw}, {source[0]})")))
    safe = []  # (label, flow lines, body builder)
    for k, api in enumerate(fam.safe_apis):
        safe.append((f"api{k}", [], lambda fw, api=api: api(fw, "value")))
    for k, clean in enumerate(fam.sanitizers):
        for s, sink in enumerate(fam.sinks[:2]):
            safe.append((f"sanitised{k}-s{s}", [f"bar = {clean('value')}"],
                         lambda fw, sink=sink: sink(fw, "bar")))
    if fam.int_use:
        safe.append(("int", ["number = int(value)"], lambda fw: fam.int_use(fw, "number")))
    if fam.taint:
        for s, sink in enumerate(fam.sinks[:2]):
            safe.append((f"allow-list-s{s}", ["if value not in ALLOWED:", "    " + "REFUSE"],
                         lambda fw, sink=sink: sink(fw, "value")))
        for label, flow_lines, expr in safe_flows(fam):
            safe.append((label, flow_lines, lambda fw, expr=expr: fam.sinks[0](fw, expr)))
    for i in range(CASES_PER_SIDE):
        fw = frameworks[i % 3]
        source = SOURCES[fw][(i // 3 + 1) % len(SOURCES[fw])]
        label, flow_lines, body = safe[i % len(safe)]
        flow_lines = [line.replace("REFUSE", refuse(fw)) for line in flow_lines]
        out.append((f"safe-{i:02d}-{fw}-{source[0]}-{label}", False,
                    render(fam, fw, source, flow_lines, body(fw), None,
                           f"{fam.name}: safe look-alike, {label} ({fw}, {source[0]})")))
    return out


def write(out: Path) -> int:
    count = 0
    for fam in F.values():
        folder = out / fam.name
        folder.mkdir(parents=True, exist_ok=True)
        for name, _, text in cases(fam):
            (folder / f"{name}.py").write_text(text)
            count += 1
    return count


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: sast_corpus.py OUT_DIR")
    print(write(Path(sys.argv[1])), "cases written")
