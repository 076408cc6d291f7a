"""Tests the change made weaker: its base's and its own text of one test file, compared. Pure.

The referee runs the base's version of an edited test, so a test the change weakened (an
`or True`, an equality turned into a truthiness check, a skip) still passes there and says
nothing; merged, it protects no later change. Each function present on both sides is compared
by qualified name (`Class::function`) on normalised syntax trees: formatting, comments and a
moved helper change nothing, and only what reads as less checking is reported, for the
reviewer to acknowledge. A test removed from a file that stays is a notice: the suite's size
is compared elsewhere.
"""

from __future__ import annotations

import ast
import bisect
import dataclasses
import re
from collections import Counter
from dataclasses import dataclass

from gatekeeper.core.model import Finding

ACK = "tests.weakened"
RULE = "weakened-test/"
MAX_CHARS = 512 * 1024  # per side: larger files are not compared, and say so
MAX_NODES = 200_000  # per side, counted before anything walks the tree twice
SHOWN = 100  # characters of one assertion in a message
PER_TEST = 3  # findings of one kind listed per function
PER_FILE = 50  # findings listed per file; the rest are counted
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)")

# unittest's assertion methods by how much they pin down; the others count as assertions only
_METHOD_RANK = {
    **dict.fromkeys(("assertEqual", "assertEquals", "failUnlessEqual", "assertListEqual",
                     "assertDictEqual", "assertTupleEqual", "assertSetEqual",
                     "assertSequenceEqual", "assertMultiLineEqual", "assertIs", "assertIsNone",
                     "assert_frame_equal", "assert_series_equal", "assert_array_equal",
                     "assert_equal"), 5),
    **dict.fromkeys(("assertAlmostEqual", "assertAlmostEquals", "assertCountEqual",
                     "assertItemsEqual", "assert_allclose", "assert_almost_equal",
                     "assert_array_almost_equal"), 4),
    **dict.fromkeys(("assertIn", "assertRegex", "assertRegexpMatches", "assertGreater",
                     "assertGreaterEqual", "assertLess", "assertLessEqual",
                     "assertDictContainsSubset"), 3),
    **dict.fromkeys(("assertIsNotNone", "assertIsInstance", "assertNotEqual",
                     "assertNotEquals", "assertNotIn", "assertIsNot", "assertNotRegex",
                     "assertNotAlmostEqual", "assertNotIsInstance"), 2),
    **dict.fromkeys(("assertTrue", "assertFalse", "assert_", "failUnless", "failIf"), 1),
}
_MOCK_RANK = {
    **dict.fromkeys(("assert_called_once_with", "assert_called_with", "assert_has_calls",
                     "assert_awaited_once_with", "assert_awaited_with", "assert_has_awaits"), 5),
    **dict.fromkeys(("assert_any_call", "assert_any_await", "assert_called_once",
                     "assert_awaited_once"), 3),
    **dict.fromkeys(("assert_called", "assert_awaited"), 1),
}
_RAISES = {"raises", "warns", "assertRaises", "assertRaisesRegex", "assertRaisesRegexp",
           "assertWarns", "assertWarnsRegex", "failUnlessRaises", "deprecated_call"}
_MESSAGE_KW = {"match"}
_REGEX_METHODS = {"assertRaisesRegex", "assertRaisesRegexp", "assertWarnsRegex"}
_BROADEST = {"Exception", "BaseException", "Warning", "UserWarning"}
_WRAPPERS = {"len", "str", "repr", "list", "tuple", "set", "frozenset", "sorted", "dict",
             "bool", "int", "float", "type", "bytes"}
_SKIP_CALLS = {"pytest.skip", "pytest.xfail", "self.skipTest", "pytest.fail.skip",
               "unittest.SkipTest", "SkipTest", "skip.Exception"}


class NotCompared(Exception):
    """A side could not be read as Python within the bounds."""


@dataclass(frozen=True)
class Check:
    """One assertion in a function: what kind, how strict, on what, as written."""
    category: str  # value | mock | raises
    rank: int  # 0 always true .. 5 an exact equality
    key: str  # the normalised tree: equal keys are the same assertion
    subjects: frozenset[str]  # what it is about, normalised, for pairing base and change
    text: str
    line: int
    node: ast.AST


@dataclass
class Func:
    name: str  # qualified: Class::function
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    checks: list[Check]
    calls: list[str]  # local helpers it calls, by qualified name
    skips: Counter  # skip markers and unconditional skip calls, by normalised tree
    skip_text: dict[str, tuple[str, int]]
    params: dict[str, tuple[int | None, str]]  # parametrize argnames -> (cases or None, text)
    is_test: bool
    spans: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # lines it rests on


def weakened(path: str, base: str, head: str, patch: str = "") -> list[Finding]:
    """The weakenings of `path`'s tests from the base's text to the change's.

    `patch`: the change's diff of the file, when the base's text may be newer than where the
    change started (a pull request's base branch moves on): then only what rests on lines the
    change touched is compared, and a test the base branch strengthened since is not the
    change's weakening. Without it, every difference is the change's."""
    if base == head:
        return []
    touched = _touched(patch) if patch else None
    try:
        old, new = _module(base), _module(head)
    except NotCompared as err:
        return [not_compared(path, str(err))]
    totals = _totals(old), _totals(new)
    resting = (_resting_on(old, touched[0]), _resting_on(new, touched[1])) if touched else None
    findings = []
    for name, before in old.items():
        after = new.get(name)
        if after is None:
            continue
        if _dump(before.node) == _dump(after.node) and before.params == after.params and \
                totals[0][name] == totals[1][name]:
            continue  # the same code, with as many checks in the helpers it calls
        if touched and name not in resting[0] and name not in resting[1]:
            continue
        findings += _compare(name, before, after, totals[0][name], totals[1][name])
    gone = [n for n, f in old.items() if f.is_test and n not in new
            and (not resting or n in resting[0])]
    if gone:  # renamed with its body unchanged: not gone, unless to a name never collected
        bodies = {_dump_list(f.node.body): f for n, f in new.items()
                  if n not in old and isinstance(f.node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        renamed = {n: bodies.get(_dump_list(old[n].node.body)) for n in gone}
        gone = [n for n in gone if renamed[n] is None]
        for name, now in renamed.items():
            if now is not None and not now.is_test and len(findings) < PER_FILE:
                findings.append(_finding("skip-added", f"{name}: renamed to {now.name}, a name "
                                         "the test runner does not collect", now.node.lineno))
    if gone:
        shown = ", ".join(gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
        findings.append(Finding("gatekeeper", RULE + "test-removed",
                                f"{len(gone)} test{'s' if len(gone) != 1 else ''} no longer in "
                                f"this file: {shown}", "low", "", 0, 0, blocking=False))
    if len(findings) > PER_FILE:
        more = len(findings) - PER_FILE + 1
        findings = [*findings[:PER_FILE - 1], _finding(
            "many", f"{more} more weakenings of tests in this file, not listed", 1)]
    return [dataclasses.replace(f, path=path) for f in findings]


def not_compared(path: str, why: str) -> Finding:
    """What is said when a file's tests were not compared: unknown is not unweakened."""
    return dataclasses.replace(_finding(
        "not-compared", f"{path} was not compared with the base's version ({why}): whether "
        "its tests were weakened is not known; read its diff and acknowledge", 1), path=path)


def _finding(kind: str, message: str, line: int) -> Finding:
    return Finding("gatekeeper", RULE + kind, message, "medium", "", line, line,
                   blocking=False, waived_by=ACK)


# --- reading one side -----------------------------------------------------------------------

def _module(text: str) -> dict[str, Func]:
    if len(text) > MAX_CHARS:
        raise NotCompared(f"over {MAX_CHARS} characters")
    try:
        tree = ast.parse(text)
        nodes = sum(1 for _ in ast.walk(tree))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        raise NotCompared(f"not parsed: {err.__class__.__name__}") from None
    if nodes > MAX_NODES:
        raise NotCompared(f"over {MAX_NODES} syntax nodes")
    literals = {t.id: v for s in tree.body if isinstance(s, ast.Assign)
                for t in s.targets if isinstance(t, ast.Name)
                for v in [s.value] if isinstance(v, (ast.List, ast.Tuple))}
    funcs: dict[str, Func] = {}
    try:
        module = Func("", tree, [], [], Counter(), {}, {}, False)
        _holder_marks(tree.body, module)
        funcs[""] = module
        _collect(tree.body, "", funcs, literals)
    except RecursionError:
        raise NotCompared("nested too deeply") from None
    return funcs


def _collect(body: list[ast.stmt], prefix: str, funcs: dict[str, Func], literals: dict) -> None:
    for stmt in body:
        if isinstance(stmt, ast.ClassDef):
            name = prefix + stmt.name
            holder = Func(name, stmt, [], [], Counter(), {}, {}, False)
            for deco in stmt.decorator_list:
                _marks(deco, holder)
            _holder_marks(stmt.body, holder)
            holder.spans.append((_first_line(stmt), stmt.body[0].lineno - 1))
            funcs[name] = holder
            _collect(stmt.body, name + "::", funcs, literals)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = prefix + stmt.name
            func = Func(name, stmt, [], [], Counter(), {}, {}, stmt.name.startswith("test"),
                        [(_first_line(stmt), stmt.end_lineno or stmt.lineno)])
            for deco in stmt.decorator_list:
                _marks(deco, func)
                _parametrize(deco, func, literals)
            _Walker(func, prefix).visit_body(stmt.body)
            funcs[name] = func


def _holder_marks(body: list[ast.stmt], holder: Func) -> None:
    """A module's or class's `pytestmark` skips, and `__test__ = False` (not collected)."""
    for stmt in body:
        if not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or stmt.value is None:
            continue
        names = {t.id for t in getattr(stmt, "targets", [getattr(stmt, "target", None)])
                 if isinstance(t, ast.Name)}
        if "pytestmark" in names:
            _marks(stmt.value, holder)
        elif "__test__" in names and _truth(stmt.value) is False:
            _skip(holder, stmt)
        else:
            continue
        holder.spans.append((stmt.lineno, stmt.end_lineno or stmt.lineno))


def _first_line(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> int:
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def _touched(patch: str) -> tuple[list[int], list[int]]:
    """(the base's lines the patch removes, the change's lines it adds) from a unified diff;
    a removal also touches the change's line where it happened."""
    removed: set[int] = set()
    added: set[int] = set()
    old = new = 0
    for row in patch.splitlines():
        hunk = _HUNK.match(row)
        if hunk:
            old, new = int(hunk.group(1)), int(hunk.group(2))
        elif row.startswith("-") and not row.startswith("---"):
            removed.add(old)
            added.update((new - 1, new))
            old += 1
        elif row.startswith("+") and not row.startswith("+++"):
            added.add(new)
            new += 1
        elif not row.startswith("\\"):
            old, new = old + 1, new + 1
    return sorted(removed), sorted(added)


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _marks(node: ast.AST, func: Func) -> None:
    """Skip and xfail markers among a decorator or a `pytestmark` value."""
    if isinstance(node, (ast.List, ast.Tuple)):
        for item in node.elts:
            _marks(item, func)
        return
    call = node if isinstance(node, ast.Call) else None
    name = _dotted(call.func if call else node)
    tail = name.rsplit(".", 1)[-1]
    always = tail in ("skip", "xfail", "expectedFailure") and (
        "mark" in name.split(".") or "unittest" in name.split(".") or name == tail)
    if tail in ("skipif", "skipIf") and call and call.args:
        always = _truth(call.args[0]) is True
    if tail == "skipUnless" and call and call.args:
        always = _truth(call.args[0]) is False
    if always:
        _skip(func, node)


def _skip(func: Func, node: ast.AST) -> None:
    key = _dump(node)
    func.skips[key] += 1
    func.skip_text.setdefault(key, (_text(node), getattr(node, "lineno", 0)))


def _parametrize(deco: ast.AST, func: Func, literals: dict) -> None:
    if not (isinstance(deco, ast.Call) and _dotted(deco.func).endswith("parametrize")):
        return
    names = deco.args[0] if deco.args else next(
        (k.value for k in deco.keywords if k.arg == "argnames"), None)
    values = deco.args[1] if len(deco.args) > 1 else next(
        (k.value for k in deco.keywords if k.arg == "argvalues"), None)
    if names is None:
        return
    if isinstance(values, ast.Name) and values.id in literals:
        values = literals[values.id]
        func.spans.append((values.lineno, values.end_lineno or values.lineno))
    cases = len(values.elts) if isinstance(values, (ast.List, ast.Tuple)) else None
    func.params[_argnames(names)] = (cases, _text(names))
    for case in values.elts if isinstance(values, (ast.List, ast.Tuple)) else ():
        if isinstance(case, ast.Call) and _dotted(case.func).endswith("param"):
            for kw in case.keywords:
                if kw.arg == "marks":
                    _marks(kw.value, func)


def _argnames(node: ast.AST) -> str:
    """`"a, b"`, `"a,b"` and `("a", "b")` alike."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return ",".join(p.strip() for p in node.value.split(","))
    if isinstance(node, (ast.List, ast.Tuple)) and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return ",".join(e.value.strip() for e in node.elts)
    return _dump(node)


class _Walker(ast.NodeVisitor):
    """The assertions, skip calls and local helper calls of one function's body."""

    def __init__(self, func: Func, prefix: str):
        self.func, self.prefix = func, prefix
        self.swallowed = 0  # inside a try or suppress that turns a failed assertion into nothing
        self.conditional = 0  # inside an if or an except: a skip there has its reason

    def visit_body(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.visit(stmt)

    def visit_Assert(self, node: ast.Assert) -> None:
        self._add("value", node.test, _rank(node.test), node)
        self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        self.visit(node.test)
        truth = _truth(node.test)
        self.conditional += truth is not True
        self.visit_body(node.body)
        self.conditional -= truth is not True
        self.conditional += 1
        self.visit_body(node.orelse)
        self.conditional -= 1

    def visit_Try(self, node: ast.Try) -> None:
        swallows = any(_swallows(h) for h in node.handlers)
        self.swallowed += swallows
        self.visit_body(node.body)
        self.swallowed -= swallows
        self.conditional += 1
        for handler in node.handlers:
            self.visit(handler)
        self.conditional -= 1
        self.visit_body(node.orelse)
        self.visit_body(node.finalbody)

    visit_TryStar = visit_Try

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        suppress = 0
        for item in node.items:
            expr = item.context_expr
            if isinstance(expr, ast.Call) and _dotted(expr.func).endswith("suppress") and any(
                    _catches_assertion(a) for a in expr.args):
                suppress = 1
            else:
                self.visit(expr)
        self.swallowed += suppress
        self.visit_body(node.body)
        self.swallowed -= suppress

    visit_AsyncWith = visit_With

    def visit_Raise(self, node: ast.Raise) -> None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if exc is not None and _dotted(exc) in _SKIP_CALLS and not self.conditional:
            _skip(self.func, node)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _dotted(node.func)
        tail = name.rsplit(".", 1)[-1]
        if name in _SKIP_CALLS and not self.conditional:
            _skip(self.func, node)
        elif tail in _RAISES:
            self._add("raises", node, 3, node)
        elif tail in _MOCK_RANK or (tail.startswith("assert_") and isinstance(
                node.func, ast.Attribute) and tail.startswith(("assert_called", "assert_awaited",
                                                               "assert_not_", "assert_has"))):
            self._add("mock", node, _MOCK_RANK.get(tail, 5), node)
        elif tail in _METHOD_RANK or tail.startswith(("assert", "fail")) and \
                isinstance(node.func, ast.Attribute) and _dotted(node.func).startswith("self."):
            self._add("value", node, _method_rank(tail, node), node)
        elif tail.startswith("assert_") or tail.startswith("assert") and len(tail) > 6:
            self._add("value", node, 3, node)  # a library's or the project's own assert helper
        elif isinstance(node.func, ast.Name):
            self.func.calls.append(node.func.id)
        elif isinstance(node.func, ast.Attribute) and _dotted(node.func) == "self." + tail:
            self.func.calls.append(self.prefix + tail)
        self.generic_visit(node)

    def _add(self, category: str, node: ast.AST, rank: int, stmt: ast.AST) -> None:
        if self.swallowed:
            rank = 0
        self.func.checks.append(Check(category, rank, _dump(stmt) + f"#{self.swallowed > 0}",
                                      _subjects(node), _text(stmt), getattr(stmt, "lineno", 0),
                                      node))


def _swallows(handler: ast.ExceptHandler) -> bool:
    reraises = any(isinstance(n, ast.Raise) for n in ast.walk(handler))
    return not reraises and (handler.type is None or _catches_assertion(handler.type))


def _catches_assertion(node: ast.AST) -> bool:
    names = [_dotted(e) for e in (node.elts if isinstance(node, ast.Tuple) else [node])]
    return any(n.rsplit(".", 1)[-1] in ("AssertionError", "Exception", "BaseException")
               for n in names)


# --- judging one assertion --------------------------------------------------------------------

def _truth(node: ast.AST) -> bool | None:
    """True or False when the expression's truth is fixed whatever the code does; None if not."""
    if isinstance(node, ast.Constant):
        return bool(node.value)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
        return bool(node.elts if not isinstance(node, ast.Dict) else node.keys) or None
    if isinstance(node, ast.Lambda):
        return True
    if isinstance(node, ast.JoinedStr):
        return True if any(isinstance(v, ast.Constant) and v.value for v in node.values) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _truth(node.operand)
        return None if inner is None else not inner
    if isinstance(node, ast.BoolOp):
        values = [_truth(v) for v in node.values]
        if isinstance(node.op, ast.Or):
            if True in values or _excluded_middle(node.values):
                return True
            return False if all(v is False for v in values) else None
        if False in values:
            return False
        return True if all(v is True for v in values) else None
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        same = _dump(node.left) == _dump(node.comparators[0])
        if same and isinstance(node.ops[0], (ast.Eq, ast.Is, ast.LtE, ast.GtE)):
            return True
        if same and isinstance(node.ops[0], (ast.NotEq, ast.IsNot, ast.Lt, ast.Gt)):
            return False
    if isinstance(node, ast.Call) and _dotted(node.func) == "isinstance" and len(node.args) == 2:
        if _dotted(node.args[1]) == "object":
            return True
    return None


def _excluded_middle(values: list[ast.expr]) -> bool:
    """`x or not x`: one side's negation is among the others."""
    dumps = {_dump(v) for v in values}
    return any(isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.Not)
               and _dump(v.operand) in dumps for v in values)


def _rank(test: ast.AST) -> int:
    """How much an `assert` expression pins down: 0 always true, 1 truthiness .. 5 equality."""
    if _truth(test) is True:
        return 0
    if isinstance(test, ast.Compare):
        if len(test.ops) > 1:
            return 3
        op, right = test.ops[0], test.comparators[0]
        if isinstance(op, ast.Eq):
            if _falsy(right) or _falsy(test.left):
                return 4  # `== []`, `len(x) == 0`: what `assert not x` says as well
            return 4 if _approx(right) or _approx(test.left) else 5
        if isinstance(op, ast.Is):
            return 5
        if isinstance(op, (ast.IsNot, ast.NotEq)) and isinstance(right, ast.Constant) \
                and right.value is None:
            return 2
        if isinstance(op, (ast.In, ast.Lt, ast.Gt, ast.LtE, ast.GtE)):
            return 3
        return 2
    if isinstance(test, ast.BoolOp):
        ranks = [_rank(v) for v in test.values]
        return max(ranks) if isinstance(test.op, ast.And) else min(min(ranks), 3)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return 2 if isinstance(test.operand, ast.Compare) else 4  # falsy: empty, zero, None
    if isinstance(test, ast.Call):
        name = _dotted(test.func)
        if name in ("isinstance", "hasattr", "callable", "issubclass"):
            return 2
        if name.rsplit(".", 1)[-1] in ("startswith", "endswith", "match", "search",
                                       "fullmatch", "isclose", "issubset", "issuperset"):
            return 3
    return 1


def _method_rank(tail: str, node: ast.Call) -> int:
    args = node.args
    if tail in ("assertTrue", "assert_", "failUnless") and args and _truth(args[0]) is True:
        return 0
    if tail in ("assertFalse", "failIf") and args and _truth(args[0]) is False:
        return 0
    if tail in ("assertEqual", "assertEquals", "assertIs", "assertListEqual", "assertDictEqual",
                "assertGreaterEqual", "assertLessEqual", "assertCountEqual") and len(args) >= 2 \
            and _dump(args[0]) == _dump(args[1]):
        return 0
    if tail == "assertIsNotNone" and args and isinstance(args[0], ast.Constant) \
            and args[0].value is not None:
        return 0
    if tail == "assertTrue" and args and isinstance(args[0], ast.Compare):
        return _rank(args[0])  # assertTrue(a == b) pins down as much as `assert a == b`
    return _METHOD_RANK.get(tail, 3)


def _falsy(node: ast.AST) -> bool:
    """A literal that is false: 0, "", None, False, [], {}, ()."""
    if isinstance(node, ast.Constant):
        return not node.value
    return isinstance(node, (ast.List, ast.Tuple, ast.Dict)) and _truth(node) is not True


def _approx(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and _dotted(node.func).endswith("approx")


def _subjects(node: ast.AST) -> frozenset[str]:
    """What an assertion is about: its operands that are not constants, unwrapped once."""
    if isinstance(node, ast.Assert):
        node = node.test
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        node = node.operand
    if isinstance(node, ast.Compare):
        parts = [node.left, *node.comparators]
    elif isinstance(node, ast.BoolOp):
        return frozenset().union(*(_subjects(v) for v in node.values))
    elif isinstance(node, ast.Call):
        name = _dotted(node.func)
        if name in ("isinstance", "hasattr", "callable", "issubclass"):
            parts = node.args[:1]
        elif isinstance(node.func, ast.Attribute) and name.rsplit(".", 1)[-1] in (
                "startswith", "endswith", "issubset", "issuperset"):
            parts = [node.func.value]
        elif isinstance(node.func, ast.Attribute) and (node.func.attr.startswith("assert")
                                                       or node.func.attr.startswith("fail")):
            parts = [*node.args, node.func.value] if node.func.attr.startswith("assert_") \
                and _dotted(node.func.value) != "self" else list(node.args)
        else:
            parts = [node]
    else:
        parts = [node]
    out = set()
    for part in parts:
        if isinstance(part, ast.Constant) or _approx(part):
            continue
        out.add(_dump(part))
        if isinstance(part, ast.Call) and _dotted(part.func) in _WRAPPERS and part.args:
            out.add(_dump(part.args[0]))
    return frozenset(out)


# --- comparing the two sides ------------------------------------------------------------------

def _compare(name: str, before: Func, after: Func, count_before: int,
             count_after: int) -> list[Finding]:
    shown = name or "the module"
    line = getattr(after.node, "lineno", 1)
    findings = []
    added = after.skips - before.skips
    if added:
        key = next(iter(added))
        text, at = after.skip_text[key]
        findings.append(_finding("skip-added", f"{shown}: skipped or expected to fail where the "
                                 f"base ran it: {_side(None, text)}", at or line))
    for names, (cases, text) in before.params.items():
        now = after.params[names][0] if names in after.params else 1
        if cases is not None and now is not None and now < cases:
            findings.append(_finding("cases-dropped", f"{shown}: parametrised over "
                                     f"{_clip(text)} with {now} case{'s' if now != 1 else ''} "
                                     f"where the base had {cases}", line))
    if not isinstance(after.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return findings
    base_keys = Counter(c.key for c in before.checks)
    head_keys = Counter(c.key for c in after.checks)
    fresh = [c for c in after.checks if _take(head_keys, base_keys, c.key)]
    base_keys = Counter(c.key for c in before.checks)
    head_keys = Counter(c.key for c in after.checks)
    gone = [c for c in before.checks if _take(base_keys, head_keys, c.key)]
    trivial = [c for c in fresh if c.rank == 0]
    for check in trivial[:PER_TEST]:
        was = _counterpart(check, gone)
        findings.append(_finding("always-true", f"{shown}: an assertion that cannot fail: "
                                 f"{_side(was, check.text)}", check.line or line))
    findings += _paired(shown, gone, [c for c in fresh if c.rank > 0], line)
    # a helper or fixture handing its checks to another file's helper is a refactor seen
    # too often to ask about: only a test's own count is compared
    if after.is_test and count_after < count_before:
        removed = [c.text for c in gone][:2]
        findings.append(_finding("assertions-removed", f"{shown}: {count_after} assertion"
                                 f"{'s' if count_after != 1 else ''} where the base had "
                                 f"{count_before}" + (f"; gone: {' ; '.join(_clip(t) for t in removed)}"
                                                      if removed else ""), line))
    return findings


def _take(mine: Counter, theirs: Counter, key: str) -> bool:
    """Whether this occurrence of `key` has no partner on the other side (and use one up)."""
    if theirs[key] > 0:
        theirs[key] -= 1
        return False
    return True


def _counterpart(check: Check, gone: list[Check]) -> Check | None:
    return next((g for g in gone if g.category == check.category
                 and g.subjects & check.subjects), None)


def _paired(shown: str, gone: list[Check], fresh: list[Check], line: int) -> list[Finding]:
    """Each assertion the change no longer has, against the change's one on the same subject."""
    findings, used = [], set()
    # per category and subject, the change's candidates strongest first; each list is walked
    # past used ones once, so pairing is linear however many assertions share a subject
    by_subject: dict[tuple[str, str], list[int]] = {}
    for i, check in enumerate(fresh):
        for subject in check.subjects:
            by_subject.setdefault((check.category, subject), []).append(i)
    for bucket in by_subject.values():
        bucket.sort(key=lambda i: (-fresh[i].rank, i), reverse=True)  # best at the end
    raises = [i for i, c in reversed(list(enumerate(fresh))) if c.category == "raises"]
    for was in gone:
        if was.rank == 0:
            continue
        buckets = [raises] if was.category == "raises" else [
            by_subject.get((was.category, s), []) for s in was.subjects]
        for bucket in buckets:
            while bucket and bucket[-1] in used:
                bucket.pop()
        tops = [b[-1] for b in buckets if b]
        pick = min(tops, key=lambda i: (-fresh[i].rank, i)) if tops else None
        if pick is None:
            continue
        used.add(pick)
        now = fresh[pick]
        why = _raises_broader(was.node, now.node) if was.category == "raises" else \
            _looser(was, now)
        if why and len(findings) < PER_TEST:
            kind = "exception-broadened" if was.category == "raises" else "less-strict"
            findings.append(_finding(kind, f"{shown}: {why}: {_side(was, now.text)}",
                                     now.line or line))
    return findings


def _looser(was: Check, now: Check) -> str:
    if now.rank < was.rank:
        return "compared less strictly"
    if now.rank == was.rank == 4:
        wide_before, wide_after = _tolerance(was.node), _tolerance(now.node)
        if any(wide_after.get(k, 0) > v for k, v in wide_before.items()) or \
                set(wide_after) - set(wide_before) - {"places"}:
            return "tolerance widened"
        if "places" in wide_before and wide_after.get("places", 7) < wide_before["places"]:
            return "tolerance widened"
    return ""


def _tolerance(node: ast.AST) -> dict[str, float]:
    out = {}
    for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
        for kw in call.keywords:
            if kw.arg in ("rel", "abs", "delta", "places", "rtol", "atol", "rel_tol", "abs_tol") \
                    and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value,
                                                                         (int, float)):
                out[kw.arg] = float(kw.value.value)
    return out


def _raises_broader(was: ast.Call, now: ast.Call) -> str:
    before, after = _expected(was), _expected(now)
    if before is None or after is None:
        return ""
    if (after & _BROADEST) - before:
        return "expects a broader exception"
    if before and after - before and not before - after:
        return "expects more exceptions"
    if _message_checked(was) and not _message_checked(now):
        return "no longer checks the exception's message"
    return ""


def _expected(call: ast.Call) -> set[str] | None:
    if not call.args:
        return set() if _dotted(call.func).endswith("deprecated_call") else None
    first = call.args[0]
    items = first.elts if isinstance(first, ast.Tuple) else [first]
    names = {_dotted(i).rsplit(".", 1)[-1] for i in items}
    return None if "" in names else names


def _message_checked(call: ast.Call) -> bool:
    return _dotted(call.func).rsplit(".", 1)[-1] in _REGEX_METHODS or any(
        k.arg in _MESSAGE_KW for k in call.keywords)


def _totals(funcs: dict[str, Func]) -> dict[str, int]:
    """Each function's assertions and those of the file's helpers it calls (once each, a
    cycle cut where it closes), so a moved assert is kept. Linear: memoised, no recursion."""
    totals: dict[str, int] = {}
    for root in funcs:
        stack = [(root, False)]
        while stack:
            name, done = stack.pop()
            if name in totals and not done:
                continue
            func = funcs[name]
            helpers = {c for c in func.calls if c in funcs and not funcs[c].is_test and c != name}
            if done:
                totals[name] = len(func.checks) + sum(totals.get(h, 0) for h in helpers)
                continue
            totals.setdefault(name, len(func.checks))  # in progress: a cycle sees its own count
            stack.append((name, True))
            stack += [(h, False) for h in helpers if h not in totals]
    return totals


def _resting_on(funcs: dict[str, Func], lines: list[int]) -> set[str]:
    """The functions that span one of `lines`, or whose case lists or helpers do."""
    hit = [n for n, f in funcs.items() if any(
        (at := bisect.bisect_left(lines, start)) < len(lines) and lines[at] <= end
        for start, end in f.spans)]
    callers: dict[str, list[str]] = {}
    for name, func in funcs.items():
        for call in set(func.calls):
            if call in funcs and not funcs[call].is_test:
                callers.setdefault(call, []).append(name)
    seen = set(hit)
    while hit:
        for caller in callers.get(hit.pop(), ()):
            if caller not in seen:
                seen.add(caller)
                hit.append(caller)
    return seen


def _dump(node: ast.AST) -> str:
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def _dump_list(nodes: list[ast.AST]) -> str:
    return "|".join(_dump(n) for n in nodes)


def _text(node: ast.AST) -> str:
    try:
        return " ".join(ast.unparse(node).split())
    except (ValueError, RecursionError):
        return node.__class__.__name__


def _clip(text: str) -> str:
    return text if len(text) <= SHOWN else text[:SHOWN - 1] + "…"


def _side(was: Check | None, now: str) -> str:
    return f"base `{_clip(was.text) if was else '(none)'}` | change `{_clip(now)}`"
