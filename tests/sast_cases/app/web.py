import hashlib
import os
import random
import secrets
import ssl

import requests
from flask import Flask, make_response, redirect, request, send_file

app = Flask(__name__)


def fetch(url, password, user):
    # ruleid: tls-verification-disabled
    requests.get(url, verify=False)
    # ruleid: tls-verification-disabled
    ctx = ssl._create_unverified_context()
    # ok: tls-verification-disabled
    requests.get(url, timeout=5)

    # ruleid: weak-password-hash
    digest = hashlib.md5(password.encode()).hexdigest()
    # ruleid: weak-password-hash
    stored = hashlib.sha256(password).hexdigest()
    # ok: weak-password-hash
    etag = hashlib.md5(user.avatar_bytes).hexdigest()
    # ok: weak-password-hash
    key = hashlib.scrypt(password.encode(), salt=b"s", n=2**14, r=8, p=1)

    # ruleid: taint-weak-random-secret
    reset_token = str(random.getrandbits(64))
    # ruleid: taint-weak-random-secret
    api_key = "".join(random.choice("abcdef0123456789") for _ in range(32))
    # ok: taint-weak-random-secret
    session_token = secrets.token_urlsafe(32)
    # ok: taint-weak-random-secret
    delay = random.uniform(0.1, 0.5)
    return digest, stored, etag, key, reset_token, api_key, session_token, delay, ctx


@app.route("/download")
def download():
    path = os.path.join("/srv/files", request.args["name"])
    # ruleid: taint-path-traversal
    os.remove(path)
    # ruleid: taint-path-traversal
    return send_file(request.args.get("file"))


@app.route("/open")
def read_it():
    # ruleid: taint-path-traversal
    with open(request.args.get("p")) as handle:
        return handle.read()


@app.route("/safe")
def safe_download():
    # ok: taint-path-traversal
    return send_file(os.path.join("/srv/files", "report.pdf"))


@app.route("/go")
def go():
    # ruleid: taint-open-redirect
    return redirect(request.args.get("next"))


@app.route("/home")
def home():
    # ok: taint-open-redirect
    return redirect("/dashboard")


@app.route("/prefs")
def prefs():
    response = make_response("ok")
    # ruleid: insecure-cookie
    response.set_cookie("theme", request.args.get("theme", "light"))
    # ok: insecure-cookie
    response.set_cookie("sid", secrets.token_hex(16), secure=True, httponly=True)
    # ruleid: weak-hash
    response.headers["X-Sum"] = hashlib.sha1(b"x").hexdigest()
    # ok: weak-hash
    response.headers["ETag"] = hashlib.md5(b"x", usedforsecurity=False).hexdigest()
    return response


# ruleid: csrf-protection-disabled
app.config["WTF_CSRF_ENABLED"] = False

if __name__ == "__main__":
    # ruleid: debug-mode-enabled
    app.run(host="0.0.0.0", debug=True)
    # ok: debug-mode-enabled
    app.run(host="127.0.0.1")


def jinja_environments(loader, options):
    import jinja2
    from jinja2 import Environment, select_autoescape

    # ruleid: jinja2-autoescape-off
    plain = Environment(loader=loader)
    # ruleid: jinja2-autoescape-off
    off = jinja2.Environment(loader=loader, autoescape=False)
    # ruleid: jinja2-autoescape-off
    passed_on = Environment(loader=loader, **options)
    # ok: jinja2-autoescape-off
    on = Environment(loader=loader, autoescape=True)
    # ok: jinja2-autoescape-off
    chosen = Environment(loader=loader, autoescape=select_autoescape(["html"]))
    settings = {"autoescape": True}
    settings.update(options)
    # ok: jinja2-autoescape-off
    spread = Environment(loader=loader, **settings)
    # ruleid: jinja2-autoescape-off
    later = Environment(loader=loader)
    return plain, off, passed_on, on, chosen, spread, later


def read_templates(names, autoescape: bool = False, loader=None):
    import jinja2

    # ruleid: jinja2-autoescape-off
    return jinja2.Environment(loader=loader, autoescape=autoescape), names


def read_templates_escaped(names, autoescape: bool = True, loader=None):
    import jinja2

    # ok: jinja2-autoescape-off
    return jinja2.Environment(loader=loader, autoescape=autoescape), names
