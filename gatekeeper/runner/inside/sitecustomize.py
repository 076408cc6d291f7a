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
- the hook calls only C functions it bound at start-up: code that replaced a module's
  function (json.dumps, os.path.join) never runs inside it to change or drop a record;
- a path is recorded by what it reaches (links and /proc/self/root followed), not by its name;
- when a record cannot be written (descriptors exhausted), the process is killed rather than
  go on unrecorded.
Each line is signed (keyed BLAKE2, the run's key read from a file before the hook is
installed; reading it later is recorded as tampering), so a line written into the FIFO by
other code is found out by the gate and blocks. What can still sign: a process with no hook
(`python -I`, a program that is not Python) reading the key file, recorded only as the
process start its parent made; code that reaches the signer through gc (gc's walks are
recorded first, as introspection) or reads memory through ctypes (recorded as native).
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


def _key(path):
    """The run's key for signing lines, read before any hook is installed (the hook records a
    later read of it as tampering). b"" when the gate gave none."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            return os.read(fd, 64)
        finally:
            os.close(fd)
    except OSError:
        return b""


def _signer(key):
    """What signs a line: a keyed BLAKE2 to copy per line (C code only; the key itself is
    not kept), a sequence number, and this process's random id. The gate checks each line's
    MAC over everything before it, so a line the gate's code did not write is found out."""
    hashlib, itertools = _library("hashlib", "itertools")

    mac = hashlib.blake2b(key=key, digest_size=16)  # keyed once: the key is not kept here
    proc = os.urandom(8).hex()
    return mac.copy, itertools.count().__next__, proc


def _install(fifo, key):
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
    # read-only folders of the host's or the gate's: nothing in them can be a link the
    # change planted, so a path there is not resolved (the cost: imports open thousands)
    fixed = tuple(p.rstrip("/") + "/" for p in {
        sys.base_prefix, "/usr", "/lib", "/lib64", "/bin", "/sbin", "/run/gatekeeper-pytest",
        "/run/gatekeeper-coverage/coverage", "/etc/ssl"})
    quiet_files = {"/etc/hosts", "/etc/nsswitch.conf", "/etc/resolv.conf", "/etc/localtime",
                   "/etc/passwd", "/etc/group", "/etc/mime.types", "/etc/os-release", "/dev/null",
                   "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/mounts", "/work", "/tmp"}
    # the gate's own channels: writing to the FIFOs is allowed (a line the hook did not sign
    # is found out), anything else there (the keys) is tampering
    channels = ("/run/gatekeeper-attempts/", "/run/gatekeeper-coverage/")
    writable = {fifo, "/run/gatekeeper-coverage/lines"}
    loopback = re.compile(r"^(127\.|::1$|0\.0\.0\.0$|localhost$|::$|::ffff:127\.)")
    # C functions looked up through ctypes: what they reach, by kind
    native = {"system": "shell", "popen": "shell", "fork": "process", "vfork": "process",
              "clone": "process", "clone3": "process", "posix_spawn": "process",
              "posix_spawnp": "process", "execv": "process", "execve": "process",
              "execvp": "process", "execvpe": "process", "execl": "process",
              "execle": "process", "execlp": "process", "fexecve": "process",
              "open": "file", "open64": "file", "openat": "file", "openat64": "file",
              "fopen": "file", "fopen64": "file", "creat": "file", "creat64": "file",
              "connect": "network", "socket": "network", "sendto": "network",
              "sendmsg": "network", "syscall": "native", "dlopen": "native", "dlsym": "native",
              "ptrace": "native", "process_vm_readv": "native", "process_vm_writev": "native"}
    wanted = {"socket.connect", "socket.sendto", "socket.getaddrinfo", "socket.gethostbyname",
              "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "open",
              "os.listdir", "os.scandir", "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle",
              "import", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
              "object.__getattr__", "object.__setattr__", "os.symlink", "gatekeeper.environ"}
    me = []
    flags = os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
    opath, cloexec = getattr(os, "O_PATH", 0), getattr(os, "O_CLOEXEC", 0)
    sign, number, proc = _signer(key)
    encoding = sys.getfilesystemencoding()
    test_name = os.environ.encodekey("PYTEST_CURRENT_TEST")  # os.environ's own dict's key

    # Only C functions are called below, each bound here: a name looked up at call time (a
    # module global, a builtin, a Python-level helper such as json.dumps) would let code
    # that replaced it run inside the hook, see its frame, and change or drop the record.
    def hook(event, args, _wanted=frozenset(wanted), _me=me, _fifo=fifo, _open=os.open,
             _write=os.write, _close=os.close, _kill=os.kill, _getpid=os.getpid,
             _quote=json.encoder.c_encode_basestring_ascii, _str=str, _bytes=bytes,
             _tuple=tuple, _type=type, _list=list, _int=int, _issub=issubclass,
             _sjoin="".join, _decode=bytes.decode, _encoding=encoding,
             _len=len, _cred=credential.search, _hint=hints.search, _loop=loopback.match,
             _quiet=quiet, _fixed=fixed, _channels=channels, _writable=frozenset(writable),
             _quiet_files=frozenset(quiet_files), _shells=frozenset(shells),
             _native=native.get, _lstat=os.lstat, _readlink=os.readlink,
             _getcwd=os.getcwd, _frame=sys._getframe, _data=os.environ._data,
             _test_name=test_name, _flags=flags,
             _sign=sign, _number=number, _proc=proc, _opath=opath,
             _cloexec=cloexec):
        if event not in _wanted:
            return
        if event == "open" and _opath and _len(args) > 2 and _type(args[2]) is _int and \
                args[2] & _opath == _opath:
            return  # the hook's own look-up below, or a descriptor nothing can be read from
            # (what is opened through it later, /proc/self/fd/N, is resolved then)
        kind = target = None
        if event == "open" or event == "os.listdir" or event == "os.scandir" or \
                event == "os.symlink":
            path = args[0] if args else None
            if path is None:
                return
            if _issub(_type(path), _bytes):
                path = _decode(path, _encoding, "surrogateescape")
            if not _issub(_type(path), _str):
                return  # a descriptor: what it is open on was recorded when it was opened
            path = _sjoin([path])  # a str subclass's own methods never run here
            if path == _fifo:
                return
            named = path
            if path[:1] != "/":
                if event == "os.symlink":  # the link's target, relative to the link's folder
                    where = args[1] if _len(args) > 1 else ""
                    if _issub(_type(where), _bytes):
                        where = _decode(where, _encoding, "surrogateescape")
                    where = _sjoin([where]) if _issub(_type(where), _str) else ""
                    path = where[:where.rfind("/") + 1] + path
                if path[:1] != "/":
                    try:
                        path = _getcwd() + "/" + path
                    except OSError:
                        return
            # what the path reaches, not what it names: each link followed (a link in the
            # temporary folder, /proc/self/root/..., /proc/N/fd/M), each .. taken
            if "/." in path or "//" in path or not path.startswith(_fixed):
                # the kernel resolves it (an O_PATH descriptor reads nothing; its own open
                # event returns at once, below); a path that does not exist (yet) is
                # followed here, link by link
                done, todo, links, steps = "", [], 0, 0
                try:
                    fd = _open(path, _opath | _cloexec)
                    try:
                        done = _readlink("/proc/self/fd/" + _str(fd))
                    finally:
                        _close(fd)
                except (OSError, ValueError):
                    todo = path.split("/")
                if done[:1] != "/":
                    done, todo = "", todo or path.split("/")
                todo.reverse()
                while todo:
                    part = todo.pop()
                    steps += 1
                    if part == "" or part == ".":
                        continue
                    if part == "..":
                        done = done[:done.rfind("/")] if done else ""
                        continue
                    step = done + "/" + part
                    if links < 40 and steps < 1024:  # the kernel's own limit is 40
                        try:
                            mode = _lstat(step).st_mode
                        except (OSError, ValueError):
                            mode = 0
                        if mode & 0o170000 == 0o120000:
                            links += 1
                            try:
                                link = _readlink(step)
                            except (OSError, ValueError):
                                link = ""
                            if link:
                                more = link.split("/")
                                more.reverse()
                                todo.extend(more)
                                if link[:1] == "/":
                                    done = ""
                                continue
                    done = step
                path = done or "/"
            elif path.startswith(_quiet) and not _hint(path):
                return  # the common case: a module or a data file in a fixed place
            if event == "os.symlink":
                if _cred(path) or _cred(named):
                    kind, target = "credential", "a link to " + path
            elif path.startswith(_channels) and path not in _writable and \
                    not path.startswith("/run/gatekeeper-coverage/coverage/"):
                if event == "open":
                    kind, target = "tamper", "the gate's channel " + path
            elif _cred(path) or _cred(named):
                kind, target = "credential", path if path == named else named + " -> " + path
            elif event == "open" and path not in _quiet_files and not path.startswith(_quiet):
                kind, target = "file", path if path == named else named + " -> " + path
        elif event == "socket.connect" or event == "socket.sendto":
            address = args[1] if _len(args) > 1 else None
            if _type(address) is _tuple and _len(address) >= 2 and \
                    _issub(_type(address[0]), _str) and _type(address[1]) is _int:
                host = _sjoin([address[0]])
                if _loop(host):
                    return
                kind, target = "network", host + ":" + _str(address[1])
            elif _issub(_type(address), _str) or _issub(_type(address), _bytes):
                path = _decode(address, _encoding, "surrogateescape") \
                    if _issub(_type(address), _bytes) else _sjoin([address])
                if path.startswith("/tmp/") or path.startswith("/work/") or path == _fifo:
                    return
                kind, target = "network", "unix:" + path
        elif event == "socket.getaddrinfo" or event == "socket.gethostbyname":
            host = args[0] if args else None
            if _issub(_type(host), _bytes):
                host = _decode(host, _encoding, "surrogateescape")
            if not _issub(_type(host), _str) or not host:
                return
            host = _sjoin([host])
            if _loop(host):
                return
            port = args[1] if _len(args) > 1 else None
            kind, target = "network", host + (
                ":" + _str(port) if _type(port) is _int else
                ":" + _sjoin([port]) if _issub(_type(port), _str) else "")
        elif event == "subprocess.Popen" or event == "os.exec" or event == "os.posix_spawn" \
                or event == "os.spawn":
            program, argv = (args[1], args[2]) if event == "os.spawn" else (args[0], args[1])
            words = []
            for word in (argv if _type(argv) in (_list, _tuple) else [argv])[:8]:
                if _issub(_type(word), _bytes):
                    word = _decode(word, _encoding, "surrogateescape")
                words.append(_sjoin([word]) if _issub(_type(word), _str) else "?")
            if program is None and words:
                program = words[0]
            if _issub(_type(program), _bytes):
                program = _decode(program, _encoding, "surrogateescape")
            name = _sjoin([program]) if _issub(_type(program), _str) else "?"
            name = name[name.rfind("/") + 1:]
            kind = "shell" if name in _shells else "process"
            target = " ".join([name] + words[1:])
            if "gatekeeper-attempts" in target or "gatekeeper-coverage" in target:
                kind = "tamper"
        elif event == "os.system":
            command = args[0] if args else ""
            if _issub(_type(command), _bytes):
                command = _decode(command, _encoding, "surrogateescape")
            kind, target = "shell", "sh -c " + (
                _sjoin([command]) if _issub(_type(command), _str) else "?")
        elif event == "ctypes.dlopen":
            name = args[0] if args else None
            if name is None:
                # the main program, and through it libc's system(), open(): ctypes' own
                # pythonapi is the one made when ctypes is imported
                try:
                    caller = _frame(2).f_code
                    if caller.co_name == "<module>" and \
                            caller.co_filename.endswith("/ctypes/__init__.py"):
                        return
                except (ValueError, AttributeError):
                    pass
                kind, target = "native", "ctypes: the main program (libc's functions)"
            else:
                if _issub(_type(name), _bytes):
                    name = _decode(name, _encoding, "surrogateescape")
                kind, target = "native", "ctypes " + (
                    _sjoin([name]) if _issub(_type(name), _str) else "?")
        elif event == "ctypes.dlsym" or event == "ctypes.dlsym/handle":
            name = args[1] if _len(args) > 1 else None
            if _issub(_type(name), _bytes):
                name = _decode(name, "ascii", "replace")
            if not _issub(_type(name), _str):
                return
            name = _sjoin([name])
            kind = _native(name)
            if kind is None:
                return
            target = "ctypes: " + name
        elif event == "gatekeeper.environ":
            name = args[0] if args else ""
            kind, target = "environment", _sjoin([name]) if _issub(_type(name), _str) else "?"
        elif event == "import":
            if args and args[0] in ("_cffi_backend", "cffi"):
                kind, target = "native", "cffi"
        elif event == "object.__getattr__" or event == "object.__setattr__":
            if args and _me and args[0] is _me[0]:
                name = args[1] if _len(args) > 1 else ""
                kind, target = "tamper", "the gate's audit hook: " + (
                    _sjoin([name]) if _issub(_type(name), _str) else "?")
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
                code = frame.f_code
                name = code.co_filename
                if name == "<string>":  # setup.py as setuptools runs it: exec of its text
                    name = frame.f_globals.get("__file__") or name
                name = _sjoin([name]) if _issub(_type(name), _str) else "?"
                if name[:1] not in ("/", "<"):
                    name = _getcwd() + "/" + name
                if name.startswith("/work/") and "site-packages" not in name:
                    where = name[6:] + ":" + _str(frame.f_lineno)
                    break
                frame = frame.f_back
        except Exception:  # noqa: BLE001 - the record goes out without a location
            pass
        test = _data.get(_test_name, b"")
        test = _decode(test, _encoding, "surrogateescape") if _type(test) is _bytes else ""
        # each line stays under PIPE_BUF (4096 bytes), so it reaches the FIFO whole: a field
        # escaped past its room (non-ASCII is up to 12 bytes a character) is cut further
        fields = []
        for text, room in ((target, 1500), (test, 1000), (where, 600)):
            quoted = _quote(text[:300])
            fields.append(quoted if _len(quoted) <= room else _quote(text[:room // 12]))
        body = "".join([
            '{"kind": ', _quote(kind), ', "target": ', fields[0], ', "test": ', fields[1],
            ', "at": ', fields[2], ', "pid": ', _str(_getpid()), ', "proc": "', _proc,
            '", "seq": ', _str(_number())]).encode("ascii")
        mac = _sign()
        mac.update(body)
        line = body + b', "mac": "' + mac.hexdigest().encode("ascii") + b'"}\n'
        try:
            fd = _open(_fifo, _flags)
            try:
                _write(fd, line[:4000])
            finally:
                _close(fd)
        except OSError:
            _kill(_getpid(), 9)  # unrecorded is not an option: the run fails instead

    me.append(hook)
    sys.addaudithook(hook)


def _environment():
    """Reads of secret-shaped environment names, through os.environ (best effort: code can
    read posix.environ or swap the class back; the sandbox holds no secret either way).
    Each one is an audit event the hook records and signs."""
    (re,) = _library("re")

    pattern = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL")

    class Recorded(type(os.environ)):
        def __getitem__(self, key, _audit=sys.audit, _search=pattern.search):
            if isinstance(key, str) and key and not key.startswith("GATEKEEPER_") and \
                    _search(key.upper()):
                _audit("gatekeeper.environ", key[:200])
            return super().__getitem__(key)

    os.environ.__class__ = Recorded


def _measure(folder, key):
    """Line coverage of the work folder, sent at exit as JSON lines {"file", "lines"} through
    the write-only FIFO `folder/lines`: on Python 3.12 and newer by the gate's own
    sys.monitoring tracer (a tool id of its own, so a suite's coverage.py, settrace or
    sys.monitoring, neither stops it nor is stopped by it), on 3.11 by the gate's copy of
    coverage.py (bound read-only at `folder/coverage`). A process that ends without exit
    handlers (os._exit) sends nothing."""
    atexit, json = _library("atexit", "json")

    sign, number, proc = _signer(key)

    def send(record, _fifo=folder + "/lines", _open=os.open, _write=os.write, _close=os.close,
             _quote=json.encoder.c_encode_basestring_ascii, _str=str, _map=map,
             _getpid=os.getpid, _sign=sign, _number=number, _proc=proc):
        if "error" in record:  # kept short: a line goes whole under PIPE_BUF (4096 bytes)
            body = '{"error": ' + _quote(_str(record["error"])[:200])
        else:
            name = _quote(record["file"])
            body = '{"file": %s, "lines": [%s]' % (name if len(name) < 1500 else _quote(
                record["file"][:80]), ", ".join(_map(_str, record["lines"])))
        body = (body + ', "pid": ' + _str(_getpid()) + ', "proc": "' + _proc + '", "seq": '
                + _str(_number())).encode("ascii")
        mac = _sign()
        mac.update(body)
        fd = _open(_fifo, os.O_WRONLY)
        try:
            _write(fd, body + b', "mac": "' + mac.hexdigest().encode("ascii") + b'"}\n')
        finally:
            _close(fd)

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
# recorded by its parent). The keys are read first: once a hook is installed, reading them
# is recorded as tampering.
_FIFO = "/run/gatekeeper-attempts/records"
_LINES = "/run/gatekeeper-coverage/lines"
_KEYS = (_key(_FIFO + ".key"), _key(_LINES + ".key"))
if hasattr(sys, "addaudithook") and os.path.exists(_FIFO):
    _install(_FIFO, _KEYS[0])
    _environment()
if os.path.exists(_LINES):
    _measure("/run/gatekeeper-coverage", _KEYS[1])
del _KEYS


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
