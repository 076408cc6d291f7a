# semgrep --test file for taint-web.yml: a ruleid annotation marks the next line as a
# finding, an ok annotation a line that must stay quiet.
import hashlib
import json
import mimetypes
import jinja2
import html
import os
import pathlib
import pickle
import random
import secrets
import shlex
import sqlite3
import subprocess
import urllib.request
import xml.sax

import ldap
import requests
import yaml
from django.http import HttpResponse, HttpResponseRedirect
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from flask import Flask, make_response, redirect, render_template_string, request, session, url_for
from ldap.filter import escape_filter_chars
from lxml import etree
from markupsafe import Markup, escape
from werkzeug.utils import secure_filename

app = Flask(__name__)
api = FastAPI()
ALLOWED = {"a", "b"}


def tidy(text):
    return text.strip()


@app.route("/cmd")
def cmd():
    host = request.args.get("host", "")
    # ruleid: taint-command-injection
    subprocess.run("ping -c 1 " + host, shell=True)
    # ruleid: taint-command-injection
    os.system(f"nslookup {tidy(host)}")
    # ok: taint-command-injection
    subprocess.run("ping -c 1 " + shlex.quote(host), shell=True)
    # ok: taint-command-injection
    # ruleid: taint-argument-injection
    subprocess.run(["ping", "-c", "1", host])
    count = int(request.args.get("n", "1"))
    # ok: taint-command-injection
    os.system("sleep %d" % count)
    return "done"


@api.get("/calc/{expr}")
def calc(expr: str):
    parts = []
    for piece in expr.split(","):
        parts.append(piece)
    # ruleid: taint-code-injection
    total = eval("+".join(parts))
    # ok: taint-code-injection
    fixed = eval("1 + 2")
    return {"total": total, "fixed": fixed}


def report(request, ref):
    db = sqlite3.connect("app.db")
    # ruleid: taint-sql-injection
    db.execute("SELECT * FROM orders WHERE ref = '%s'" % ref)
    name = request.GET.get("name", "")
    # ruleid: taint-sql-injection
    db.execute(f"SELECT * FROM users WHERE name = '{name}'")
    # ok: taint-sql-injection
    db.execute("SELECT * FROM users WHERE name = ?", (name,))
    if name not in ALLOWED:
        return HttpResponse("no")
    # ok: taint-sql-injection
    db.execute("SELECT * FROM users WHERE name = '%s'" % name)
    return HttpResponse("ok")


@app.route("/files/<name>")
def files(name):
    # ruleid: taint-path-traversal
    with open(os.path.join("/srv/files", name)) as handle:
        handle.read()
    # ok: taint-path-traversal
    with open(os.path.join("/srv/files", secure_filename(name))) as handle:
        handle.read()
    base = os.path.realpath("/srv/files")
    full = os.path.realpath(os.path.join(base, name))
    if not full.startswith(base + os.sep):
        return "no", 404
    # ok: taint-path-traversal
    with open(full) as handle:
        return handle.read()


@app.route("/hello")
def hello():
    who = request.args.get("who", "")
    mode = request.args.get("mode", "")
    if mode == "html":
        # ruleid: taint-xss
        return "<p>Hello " + who + "</p>"
    if mode == "template":
        # ruleid: taint-xss, taint-template-injection
        return render_template_string("<p>" + who + "</p>")
    if mode == "markup":
        # ruleid: taint-xss
        return str(Markup(f"<b>{who}</b>"))
    if mode == "safe":
        # ok: taint-xss
        return "<p>Hello " + escape(who) + "</p>"
    # ok: taint-xss
    return render_template_string("<p>{{ who }}</p>", who=who)


@api.get("/page")
def page(request: Request):
    title = request.query_params.get("t", "")
    if title:
        # ruleid: taint-xss
        return HTMLResponse(f"<h1>{title}</h1>")
    # ok: taint-xss
    return HTMLResponse("<h1>%s</h1>" % html.escape(title))


@app.route("/go")
def go():
    target = request.args.get("next", "/")
    mode = request.args.get("mode", "")
    if mode == "a":
        # ruleid: taint-open-redirect
        return redirect(target)
    if mode == "b":
        # ok: taint-open-redirect
        return redirect("/profile/" + target)
    # ok: taint-open-redirect
    return redirect(url_for("profile", name=target))


def go_django(request):
    # ruleid: taint-open-redirect
    return HttpResponseRedirect(request.GET.get("next"))


@api.get("/go")
def go_fastapi(to: str):
    # ruleid: taint-open-redirect
    return RedirectResponse(to)


@app.route("/xml", methods=["POST"])
def parse_xml():
    data = request.get_data()
    parser = etree.XMLParser(resolve_entities=True)
    # ruleid: taint-xxe
    etree.fromstring(data, parser)
    quiet = etree.XMLParser(resolve_entities=False, no_network=True)
    # ok: taint-xxe
    etree.fromstring(data, quiet)
    reader = xml.sax.make_parser()
    reader.setFeature(xml.sax.handler.feature_external_ges, True)
    # ruleid: taint-xxe
    reader.parse(request.files["doc"])
    return "ok"


@app.route("/people")
def people():
    uid = request.args.get("uid", "")
    conn = ldap.initialize("ldap://ldap.example.com")
    # ruleid: taint-ldap-injection
    conn.search_s("dc=example,dc=com", ldap.SCOPE_SUBTREE, "(uid=" + uid + ")")
    # ok: taint-ldap-injection
    conn.search_s("dc=example,dc=com", ldap.SCOPE_SUBTREE, "(uid=" + escape_filter_chars(uid) + ")")
    return "ok"


@app.route("/users")
def users():
    login = request.args.get("login", "")
    tree = etree.parse("users.xml")
    # ruleid: taint-xpath-injection
    tree.xpath("//user[@login='" + login + "']")
    # ok: taint-xpath-injection
    tree.xpath("//user[@login=$login]", login=login)
    return "ok"


@app.route("/restore", methods=["POST"])
def restore():
    # ruleid: taint-deserialization
    pickle.loads(request.data)
    # ruleid: taint-deserialization
    yaml.load(request.form["config"], Loader=yaml.Loader)
    # ok: taint-deserialization
    yaml.load(request.form["config"], Loader=yaml.SafeLoader)
    # ok: taint-deserialization
    pickle.loads(open("cache.bin", "rb").read())
    return "ok"


@app.route("/login", methods=["POST"])
def login():
    # ruleid: taint-trust-boundary
    session["user"] = request.form["user"]
    # ok: taint-trust-boundary
    session["visits"] = session.get("visits", 0) + 1
    # ok: taint-trust-boundary
    session["age"] = int(request.form["age"])
    return "ok"


def remember(request):
    # ruleid: taint-trust-boundary
    request.session["theme"] = request.COOKIES.get("theme")
    return HttpResponse("ok")


@app.route("/fetch")
def fetch():
    url = request.args.get("url", "")
    # ruleid: taint-ssrf
    requests.get(url, timeout=5)
    # ruleid: taint-ssrf
    urllib.request.urlopen("http://" + url + "/status")
    # ok: taint-ssrf
    requests.get("https://api.example.com/items/" + url, timeout=5)
    # ok: taint-ssrf
    requests.get(f"https://api.example.com/search?q={url}", timeout=5)
    return "ok"


@app.route("/token")
def token():
    # ruleid: taint-weak-random-secret
    reset_token = str(random.getrandbits(64))
    response = make_response("ok")
    # ruleid: taint-weak-random-secret
    response.set_cookie("remember", str(random.random()), secure=True, httponly=True)
    # ok: taint-weak-random-secret
    api_key = secrets.token_hex(16)
    # ok: taint-weak-random-secret
    tip = random.choice(["Drink water", "Stretch"])
    digest = hashlib.sha256((reset_token + api_key + tip).encode()).hexdigest()
    return digest


# --- Tornado (and Jupyter's servers), aiohttp, class-based views, Streamlit -------------

import cherrypy
import streamlit
import tornado.web
from aiohttp import web
from django.views import View


class RunHandler(tornado.web.RequestHandler):
    def get(self, name):
        # ruleid: taint-path-traversal
        with open(os.path.join("/srv/files", name)) as f:
            self.set_status(200 if f.readable() else 404)

    def post(self):
        host = self.get_argument("host")
        # ruleid: taint-command-injection
        subprocess.run("ping -c 1 " + host, shell=True)
        count = int(self.get_argument("count"))
        # ok: taint-command-injection
        subprocess.run("seq %d" % count, shell=True)


class Report:
    def get(self, name):
        # ok: taint-path-traversal
        return open(os.path.join("/srv/reports", name)).read()


class FileView(View):
    def get(self, request, *args, **kwargs):
        # ruleid: taint-path-traversal
        os.remove("/srv/" + self.kwargs["name"])
        return HttpResponse(status=204)


async def aio_download(request):
    name = request.match_info["name"]
    # ruleid: taint-path-traversal
    return web.FileResponse(open(os.path.join("/srv", name), "rb"))


def streamlit_page():
    formula = streamlit.text_input("formula")
    # ruleid: taint-code-injection
    result = eval(formula)
    return result


@app.route("/raw/<name>")
def raw_check(name):
    full = os.path.join("/srv/files", name)
    if not full.startswith("/srv/files/"):  # "/srv/files/../../etc/passwd" passes
        return "no", 404
    # ruleid: taint-path-traversal
    return open(full).read()


@app.route("/resolved/<name>")
def resolved_check(name):
    base = pathlib.Path("/srv/files").resolve()
    full = (base / name).resolve()
    if base not in full.parents:
        return "no", 404
    # ok: taint-path-traversal
    return open(full).read()


def undo_extraction(path):
    import tarfile

    with tarfile.open(path) as archive:
        for name in archive.getnames():
            # ruleid: archive-member-path
            os.remove(name)


def unzip(path, root):
    import zipfile

    zf = zipfile.ZipFile(path)
    for member in zf.namelist():
        target = os.path.join(root, member)
        # ruleid: archive-member-path
        with open(target, "wb") as out:
            out.write(zf.read(member))
        safe = os.path.realpath(os.path.join(root, member))
        if not safe.startswith(os.path.realpath(root) + os.sep):
            continue
        # ok: archive-member-path
        with open(safe, "wb") as out:
            out.write(zf.read(member))


class Static:
    @cherrypy.expose
    def default(self, *args, **kwargs):
        path = os.path.join("/srv/static", *args)
        # ruleid: taint-path-traversal
        return cherrypy.lib.static.serve_file(path)


def is_safe_redirect_url(target):
    return target.startswith("/") and not target.startswith("//")


@app.route("/next")
def next_page():
    target = request.args.get("next", "/")
    if not is_safe_redirect_url(target):
        # ruleid: taint-open-redirect
        return redirect(target)
    # ok: taint-open-redirect
    return redirect(target)


@app.route("/greet")
def greet():
    name = request.args.get("name", "")
    # ruleid: taint-template-injection
    page = jinja2.Template("Hello " + name + "!").render()
    # ok: taint-template-injection
    fixed = jinja2.Template("Hello {{ name }}!").render(name=name)
    return json.dumps([len(page), len(fixed)])


class Api:
    def on_ping(self):
        return "pong"


@app.route("/call")
def call():
    action = request.args.get("action", "")
    api = Api()
    # ruleid: taint-dynamic-dispatch
    result = getattr(api, action)()
    # ok: taint-dynamic-dispatch
    handled = getattr(api, "on_" + action)()
    return json.dumps([result is None, handled is None])


@app.route("/tool")
def tool():
    target = request.args.get("target", "")
    # ruleid: taint-argument-injection
    subprocess.run(["git", "clone", target])
    # ok: taint-argument-injection
    subprocess.run(["git", "clone", "--", target])
    if target.startswith("-"):
        return "no"
    # ok: taint-argument-injection
    subprocess.run(["git", "clone", target])
    return "ok"


@app.get("/static/{path:path}")
async def static_parents(path):
    root = os.path.join("/srv", "ui")
    name = os.path.join(root, path)
    # ok: taint-path-traversal
    if not pathlib.Path(root) in pathlib.Path(name).resolve().parents:
        return "no", 404
    # ok: taint-path-traversal
    return open(name).read()


@app.route("/rel/<name>")
def relative_check(name):
    base = pathlib.Path("/srv/files")
    full = base.joinpath(name).resolve()
    full.relative_to(base)
    # ok: taint-path-traversal
    return open(full).read()


@app.route("/rel-some/<name>")
def relative_check_in_one_branch(name):
    base = pathlib.Path("/srv/files")
    full = base.joinpath(name).resolve()
    if request.args.get("strict"):
        full.relative_to(base)
    # ruleid: taint-path-traversal
    return open(full).read()


@app.route("/rel-raw/<name>")
def relative_check_unnormalised(name):
    base = pathlib.Path("/srv/files")
    full = os.path.join(base, name)
    pathlib.PurePath(full).relative_to(base)  # "/srv/files/../x" is relative to it
    # ruleid: taint-path-traversal
    return open(full).read()


@app.route("/view/<name>")
def file_contents_are_not_request_data(name):
    with open(os.path.join("/srv/pages", secure_filename(name))) as handle:
        text = handle.read()
    # ok: taint-xss
    return make_response(text)


def clean_name(header):
    name = header.partition("filename=")[2]
    if name:
        name = sanitize_file_name(name)
    return name or "download"


def raw_name(header):
    return header.partition("filename=")[2] or "download"


def sanitize_file_name(name):
    return os.path.basename(name)


def download(session, url, temp_dir):
    resp = session.get(url)
    # ok: taint-path-traversal
    open(os.path.join(temp_dir, clean_name(resp.headers["content-disposition"])), "wb")
    # ruleid: taint-path-traversal
    open(os.path.join(temp_dir, raw_name(resp.headers["content-disposition"])), "wb")
    kind = resp.headers.get("content-type", "")
    # ok: taint-path-traversal
    open(os.path.join(temp_dir, "download" + (mimetypes.guess_extension(kind) or "")), "wb")


def download_whole(session, url, temp_dir):
    resp = session.get(url)
    name = resp.headers.get("content-disposition", "").partition("filename=")[2]
    # ruleid: taint-path-traversal
    with open(os.path.join(temp_dir, name), "wb") as out:
        out.write(resp.content)
    # ok: taint-path-traversal
    with open(os.path.join(temp_dir, os.path.basename(name)), "wb") as out:
        out.write(resp.content)
    listing = requests.get(url).json()
    # ruleid: taint-command-injection
    subprocess.run("tar -xf " + listing["archive"], shell=True)


def static_handler(root):
    import cherrypy
    from cherrypy.lib.static import serve_file

    @cherrypy.expose
    @cherrypy.tools.sessions(on=False)
    def handler(*args, **kwargs):
        filename = os.path.join(root, *args)
        # ruleid: taint-path-traversal
        return serve_file(filename)

    return handler
