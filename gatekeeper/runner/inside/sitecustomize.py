"""Imported by every sandboxed Python at start-up (the gate's read-only folder comes first on
PYTHONPATH): when the gate asks for an attempt log, an audit hook (PEP 578: never removed)
records what the code tries, as one line per attempt written to a FIFO only the gate reads.

Hiding a record through Python code is made impossible, not hard:
- each record is written while the event is raised, before the call it describes returns, so
  nothing later can take it back;
- the FIFO is a read-only bind mount with mode 0222: the sandbox can write to it, never read,
  replace or remove it;
- the hook's names are bound as default arguments and the function is kept nowhere else:
  reaching it takes gc or frame introspection, and changing its defaults raises an audit
  event, each recorded first;
- when a record cannot be written (descriptors exhausted), the process is killed rather than
  go on unrecorded.
Forged extra records are harmless: they only count against the change.
Runs on every interpreter a project may use (3.8 and newer), so it keeps to old syntax.
"""

import os
import sys


def _library(*names, first=()):
    """Modules for the gate's hooks from the interpreter's own library (and `first`, a gate
    folder) only. PYTHONPATH, where a policy may put `src`, comes before the library on
    sys.path: a tree's `json.py` there would otherwise run inside the hook. A module already
    loaded from elsewhere means the start-up was tampered with: the process ends rather than
    go on unrecorded."""
    home = os.path.realpath(sys.base_prefix) + os.sep
    own = [p for p in sys.path if p and os.path.realpath(p).startswith(home)
           and "-packages" not in p]
    saved = sys.path[:]
    sys.path[:] = list(first) + own
    try:
        found = [__import__(name) for name in names]
    finally:
        sys.path[:] = saved
    for index, module in enumerate(found):  # no zip(strict=): this runs on Python 3.8 too
        name = names[index]
        where = getattr(module, "__file__", None)
        if where is None:  # built in or frozen, or a namespace package (from some folder)
            origin = getattr(getattr(module, "__spec__", None), "origin", None)
            where = home if origin in ("built-in", "frozen") else "(no file)"
        where = os.path.realpath(where) + os.sep
        if not where.startswith(home) and not any(where.startswith(f + os.sep) for f in first):
            sys.stderr.write("gatekeeper: %s was loaded from %s before the gate's hook\n"
                             % (name, where))
            sys.stderr.flush()
            os._exit(70)
    return found


def _install(fifo):
    json, re = _library("json", "re")

    credential = re.compile(
        r"(^|/)\.ssh(/|$)|(^|/)\.aws(/|$)|(^|/)\.netrc$|(^|/)\.pypirc$|(^|/)\.git-credentials$"
        r"|(^|/)\.docker/config\.json$|^/proc/[^/]+/environ$|(^|/)\.env(\.(?!example|sample|"
        r"template|dist)[\w-]+)?$|(^|/)id_(rsa|dsa|ecdsa|ed25519)|(^|/)\.kube/config$"
        r"|(^|/)\.gnupg(/|$)|^/etc/(shadow|gshadow|sudoers)|(^|/)\.npmrc$|(^|/)\.config/gh/"
        r"|(^|/)\.config/gcloud/|(^|/)\.azure/")
    # every credential place has one of these words: most paths are ruled out in one search
    hints = re.compile(r"ssh|aws|netrc|pypirc|credential|docker|environ|\.env|id_|kube|gnupg|"
                       r"shadow|sudoers|npmrc|gh/|gcloud|azure")
    shells = {"sh", "bash", "dash", "zsh", "ksh", "fish", "csh", "tcsh", "busybox"}
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(fifo)}
    quiet = tuple(p.rstrip("/") + "/" for p in prefixes | {
        "/work", "/tmp", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/dev", "/proc/self",
        "/run/gatekeeper-pytest", "/etc/ssl", "/sys/fs/cgroup", "/src", "/run/gatekeeper",
        "/run/gatekeeper-coverage"})
    quiet_files = {"/etc/hosts", "/etc/nsswitch.conf", "/etc/resolv.conf", "/etc/localtime",
                   "/etc/passwd", "/etc/group", "/etc/mime.types", "/etc/os-release", "/dev/null",
                   "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/mounts", "/work", "/tmp"}
    loopback = re.compile(r"^(127\.|::1$|0\.0\.0\.0$|localhost$|::$|::ffff:127\.)")
    wanted = {"socket.connect", "socket.sendto", "socket.getaddrinfo", "socket.gethostbyname",
              "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "open",
              "os.listdir", "os.scandir", "ctypes.dlopen", "import", "gc.get_objects",
              "gc.get_referrers", "gc.get_referents", "object.__getattr__", "object.__setattr__"}
    me = []
    flags = os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)

    def hook(event, args, _wanted=frozenset(wanted), _me=me, _fifo=fifo, _open=os.open,
             _write=os.write, _close=os.close, _kill=os.kill, _getpid=os.getpid,
             _dumps=json.dumps, _str=str, _bytes=bytes, _tuple=tuple, _type=type, _list=list,
             _int=int,
             _len=len, _cred=credential.search, _hint=hints.search, _loop=loopback.match, _quiet=quiet,
             _quiet_files=frozenset(quiet_files), _shells=frozenset(shells),
             _join=os.path.join, _norm=os.path.normpath, _base=os.path.basename,
             _getcwd=os.getcwd, _frame=sys._getframe, _environ=os.environ,
             _flags=flags, _fsdecode=os.fsdecode):
        if event not in _wanted:
            return
        kind = target = None
        if event == "open" or event == "os.listdir" or event == "os.scandir":
            path = args[0] if args else None
            if _type(path) is _bytes:
                path = _fsdecode(path)
            if _type(path) is not _str or path == _fifo:
                return
            if path[:1] != "/":
                try:
                    path = _join(_getcwd(), path)
                except OSError:
                    return
            if "/." in path or "//" in path:  # normalised only when it could change
                path = _norm(path)
            elif path.startswith(_quiet) and not _hint(path):
                return  # the common case: a module or a data file in a quiet place
            if _cred(path):
                kind, target = "credential", path
            elif event == "open" and path not in _quiet_files and not path.startswith(_quiet):
                kind, target = "file", path
        elif event == "socket.connect" or event == "socket.sendto":
            address = args[1] if _len(args) > 1 else None
            if _type(address) is _tuple and _len(address) >= 2 and \
                    _type(address[0]) is _str and _type(address[1]) is _int:
                host = address[0]
                if _loop(host):
                    return
                kind, target = "network", host + ":" + _str(address[1])
            elif _type(address) in (_str, _bytes):
                path = _fsdecode(address) if _type(address) is _bytes else address
                if path.startswith("/tmp/") or path.startswith("/work/") or path == _fifo:
                    return
                kind, target = "network", "unix:" + path
        elif event == "socket.getaddrinfo" or event == "socket.gethostbyname":
            host = args[0] if args else None
            if _type(host) is _bytes:
                host = _fsdecode(host)
            if _type(host) is not _str or not host or _loop(host):
                return
            port = args[1] if _len(args) > 1 else None
            kind, target = "network", host + (":" + _str(port) if _type(port) in (_int, _str)
                                              else "")
        elif event == "subprocess.Popen" or event == "os.exec" or event == "os.posix_spawn" \
                or event == "os.spawn":
            program, argv = (args[1], args[2]) if event == "os.spawn" else (args[0], args[1])
            words = [_fsdecode(w) if _type(w) is _bytes else _str(w) for w in (
                argv if _type(argv) in (_list, _tuple) else [argv])][:8]
            if program is None and words:
                program = words[0]
            name = _base(_fsdecode(program) if _type(program) is _bytes else _str(program))
            kind = "shell" if name in _shells else "process"
            target = " ".join([name] + words[1:])
        elif event == "os.system":
            kind, target = "shell", "sh -c " + _str(args[0] if args else "")
        elif event == "ctypes.dlopen":
            if args and args[0] is not None:
                kind, target = "native", "ctypes " + _str(args[0])
        elif event == "import":
            if args and args[0] in ("_cffi_backend", "cffi"):
                kind, target = "native", "cffi"
        elif event == "object.__getattr__" or event == "object.__setattr__":
            if args and _me and args[0] is _me[0]:
                kind, target = "tamper", "the gate's audit hook: " + _str(args[1])
            elif event == "object.__setattr__" and _len(args) > 1 and args[1] in (
                    "__code__", "__defaults__", "__kwdefaults__"):
                return  # mocking libraries do this; the hook's own are caught above
            else:
                return
        else:  # gc.get_objects, gc.get_referrers, gc.get_referents: how the hook is found,
            # and how leak tests look for cycles; reaching the hook itself is "tamper" above
            kind, target = "introspection", event
        if kind is None:
            return
        where = ""
        try:
            frame = _frame(1)
            while frame is not None:
                name = frame.f_code.co_filename
                if name == "<string>":  # setup.py as setuptools runs it: exec of its text
                    name = _str(frame.f_globals.get("__file__") or name)
                if name[:1] not in ("/", "<"):
                    name = _join(_getcwd(), name)
                if name.startswith("/work/") and "site-packages" not in name:
                    where = name[6:] + ":" + _str(frame.f_lineno)
                    break
                frame = frame.f_back
        except Exception:  # noqa: BLE001 - the record goes out without a location
            pass
        test = _environ.get("PYTEST_CURRENT_TEST", "")
        line = _dumps({"kind": kind, "target": target[:300], "test": test[:300],
                       "at": where[:300], "pid": _getpid()}) + "\n"
        try:
            fd = _open(_fifo, _flags)
            try:
                _write(fd, line.encode("utf-8", "replace")[:4000])
            finally:
                _close(fd)
        except OSError:
            _kill(_getpid(), 9)  # unrecorded is not an option: the run fails instead

    me.append(hook)
    sys.addaudithook(hook)


def _environment(fifo):
    """Reads of secret-shaped environment names, through os.environ (best effort: code can
    read posix.environ or swap the class back; the sandbox holds no secret either way)."""
    json, re = _library("json", "re")

    class Recorded(type(os.environ)):
        def __getitem__(self, key, _open=os.open, _write=os.write, _close=os.close,
                        _fifo=fifo, _dumps=json.dumps):
            name = key if isinstance(key, str) else ""
            if _secret(name):
                try:
                    fd = _open(_fifo, os.O_WRONLY)
                    try:
                        _write(fd, (_dumps({"kind": "environment", "target": name[:200],
                                            "test": os.environ.get("PYTEST_CURRENT_TEST", ""),
                                            "at": "", "pid": os.getpid()}) + "\n").encode())
                    finally:
                        _close(fd)
                except OSError:
                    pass
            return super().__getitem__(key)

    pattern = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL")

    def _secret(name):
        return bool(name) and not name.startswith("GATEKEEPER_") and bool(
            pattern.search(name.upper()))

    os.environ.__class__ = Recorded


def _measure(folder):
    """Line coverage of the work folder, sent at exit as JSON lines {"file", "lines"} through
    the write-only FIFO `folder/lines`: on Python 3.12 and newer by the gate's own
    sys.monitoring tracer (a tool id of its own, so a suite's coverage.py, settrace or
    sys.monitoring, neither stops it nor is stopped by it), on 3.11 by the gate's copy of
    coverage.py (bound read-only at `folder/coverage`). A process that ends without exit
    handlers (os._exit) sends nothing."""
    atexit, json = _library("atexit", "json")

    fifo = folder + "/lines"

    def send(record):
        fd = os.open(fifo, os.O_WRONLY)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode())
        finally:
            os.close(fd)

    def sent(ran):
        for name, numbers in ran.items():
            if not name.startswith("/work/"):
                continue
            numbers = sorted(numbers)
            for start in range(0, len(numbers), 300):
                send({"file": name[6:][:1000], "lines": numbers[start:start + 300]})

    if sys.version_info < (3, 11):
        send({"error": "Python %d.%d is older than the gate's coverage supports (3.11)"
                       % sys.version_info[:2]})
        return
    try:
        report = _monitored() if sys.version_info >= (3, 12) else _covered(folder)
    except Exception as exc:  # noqa: BLE001 - measured or not, the suite runs
        send({"error": f"{type(exc).__name__}: {exc}"})
        return

    def at_exit():
        try:
            sent(report())
        except Exception as exc:  # noqa: BLE001
            send({"error": f"{type(exc).__name__}: {exc}"})

    atexit.register(at_exit)


def _ours(name):
    return name.startswith("/work/") and "/site-packages/" not in name and \
        "/.venv/" not in name and "/.tox/" not in name


def _monitored():
    """sys.monitoring: a code object of the work folder gets line events when it first
    starts; each line reports once, then is switched off (the cost is one call per line)."""
    mon = sys.monitoring
    tool = next((i for i in (4, 3) if mon.get_tool(i) is None), None)
    if tool is None:
        raise RuntimeError("no free sys.monitoring tool id (3 and 4 are taken)")
    mon.use_tool_id(tool, "gatekeeper")
    ran, decided = {}, {}
    disable, line_event = mon.DISABLE, mon.events.LINE

    def started(code, offset):
        name = code.co_filename
        wanted = decided.get(name)
        if wanted is None:
            wanted = decided[name] = _ours(name)
        if wanted:
            ran.setdefault(name, set())
            mon.set_local_events(tool, code, line_event)
        return disable

    def line(code, number):
        ran[code.co_filename].add(number)
        return disable

    mon.register_callback(tool, mon.events.PY_START, started)
    mon.register_callback(tool, line_event, line)
    mon.set_events(tool, mon.events.PY_START)

    def report():
        mon.set_events(tool, 0)
        return ran

    return report


def _covered(folder):
    """coverage.py's C tracer, for Python 3.11 (the gate's own copy, built for it)."""
    coverage, = _library("coverage", first=(folder,))
    cov = coverage.Coverage(data_file=None, source=["/work"], config_file=False,
                            omit=["*/site-packages/*", "*/.venv/*", "*/.tox/*"])
    cov.set_option("run:disable_warnings", [
        "no-data-collected", "module-not-measured", "module-not-imported", "no-ctracer",
        "couldnt-parse", "already-imported", "module-not-python"])
    cov.start()
    # the suite's own `import coverage` gets its own copy, not the gate's: the gate's keeps
    # working through the objects it already holds
    for name in [n for n in sys.modules if n == "coverage" or n.startswith("coverage.")]:
        del sys.modules[name]

    def report():
        cov.stop()
        data = cov.get_data()
        return {name: data.lines(name) or () for name in data.measured_files()}

    return report


# the FIFO's fixed place, not an environment variable: a child started with a cleared
# environment records as well (one started with -I or -E skips this file: its start is
# recorded by its parent)
_FIFO = "/run/gatekeeper-attempts/records"
if hasattr(sys, "addaudithook") and os.path.exists(_FIFO):
    _install(_FIFO)
    _environment(_FIFO)
if os.path.exists("/run/gatekeeper-coverage/lines"):
    _measure("/run/gatekeeper-coverage")


def _project_path(ours):
    """The project's import folders (GATEKEEPER_PYTHONPATH: a policy's PYTHONPATH), where
    PYTHONPATH would have put them, right after the gate's folder, but only now: given as
    PYTHONPATH, a tree's `encodings` or `site` there runs before this file and can stop the
    hook from being installed. Relative entries are taken from the working folder, as
    PYTHONPATH's are."""
    entries = []
    for entry in os.environ.get("GATEKEEPER_PYTHONPATH", "").split(os.pathsep):
        entry = os.path.abspath(entry) if entry else ""
        if entry and entry not in sys.path and entry not in entries:
            entries.append(entry)
    at = sys.path.index(ours) + 1 if ours in sys.path else 0
    sys.path[at:at] = entries


_project_path(os.path.dirname(os.path.abspath(__file__)))
