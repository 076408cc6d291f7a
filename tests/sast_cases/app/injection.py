import os
import pickle
import subprocess

import yaml


def run_user_command(request, cursor, name, data):
    cmd = "ls " + request.args.get("dir")
    # ruleid: shell-injection
    subprocess.run(cmd, shell=True)
    # ruleid: shell-injection
    subprocess.call(f"grep {name} /var/log/app.log", shell=True)
    # ruleid: shell-injection
    os.system("rm -rf " + name)
    # ok: shell-injection
    subprocess.run(["ls", request.args.get("dir")])
    # ok: shell-injection
    subprocess.run("ls -la", shell=True)
    # ok: shell-injection
    os.system("true")

    # ruleid: eval-on-input
    eval(request.args.get("expr"))
    # ruleid: eval-on-input
    exec(data)
    # ok: eval-on-input
    eval("1 + 1")

    # ruleid: unsafe-deserialization
    pickle.loads(data)
    # ruleid: unsafe-deserialization
    yaml.load(data)
    # ruleid: unsafe-deserialization
    yaml.load(data, Loader=yaml.Loader)
    # ok: unsafe-deserialization
    yaml.load(data, Loader=yaml.SafeLoader)
    # ok: unsafe-deserialization
    yaml.safe_load(data)

    # ruleid: sql-built-from-strings
    cursor.execute(f"SELECT * FROM users WHERE name = '{name}'")
    # ruleid: sql-built-from-strings
    cursor.execute("SELECT * FROM users WHERE name = '%s'" % name)
    # ruleid: sql-built-from-strings
    cursor.execute(f"SELECT * FROM users WHERE name = '{name}'")
    query = f"DELETE FROM users WHERE id = {name}"
    # ruleid: sql-built-from-strings
    cursor.execute(query)
    # ok: sql-built-from-strings
    cursor.execute("SELECT * FROM users WHERE name = %s", (name,))
    # ok: sql-built-from-strings
    cursor.execute("SELECT 1")


def markup_cases(text, user):
    from django.utils.html import conditional_escape, format_html
    from django.utils.safestring import mark_safe
    from markdown import markdown
    import bleach
    from markupsafe import Markup, escape

    # ruleid: markup-from-variable
    unsafe = mark_safe(markdown(text))
    # ruleid: markup-from-variable
    also = Markup("<b>" + user + "</b>")
    # ok: markup-from-variable
    constant = mark_safe("<br>")
    # ok: markup-from-variable
    escaped = mark_safe(escape(user))
    # ok: markup-from-variable
    formatted = Markup(format_html("<b>{}</b>", user))
    html = markdown(text)
    html = bleach.clean(html)
    # ok: markup-from-variable
    cleaned = mark_safe(html)
    safe_user = conditional_escape(user)
    # ok: markup-from-variable
    joined = mark_safe(safe_user)
    return unsafe, also, constant, escaped, formatted, cleaned, joined


def archive_cases(path, dest):
    import tarfile
    import zipfile

    with tarfile.open(path) as tar:
        # ruleid: tar-extract-without-filter
        tar.extractall(dest)
        # ok: tar-extract-without-filter
        tar.extractall(dest, filter="data")
    archive = tarfile.open(path)
    # ruleid: tar-extract-without-filter
    archive.extract("member", dest)
    # ok: tar-extract-without-filter
    zipfile.ZipFile(path).extractall(dest)


def xml_cases(document, path):
    import shutil

    from lxml import etree

    # ruleid: xml-entities-resolved
    tree = etree.fromstring(document)
    # ruleid: xml-entities-resolved
    recovered = etree.parse(path, etree.XMLParser(recover=True))
    hardened = etree.XMLParser(resolve_entities=False, no_network=True)
    # ok: xml-entities-resolved
    safe = etree.fromstring(document, hardened)
    # ok: xml-entities-resolved
    fixed = etree.fromstring(b"<a/>")
    # ruleid: tar-extract-without-filter
    shutil.unpack_archive(path, "/tmp/out")
    # ok: tar-extract-without-filter
    shutil.unpack_archive(path, "/tmp/out", filter="data")
    return tree, recovered, safe, fixed


def savepoints(cursor, name, note):
    validate_savepoint_name(name)
    # ok: sql-built-from-strings
    cursor.execute(f"SAVEPOINT {name}")
    print(note)
    # ruleid: sql-built-from-strings
    cursor.execute(f"SAVEPOINT {note}")
    # ruleid: sql-built-from-strings
    cursor.execute(f"SAVEPOINT {name} -- {note}")


def validate_savepoint_name(name):
    if not name.isidentifier():
        raise ValueError(name)
