"""What each function of a test file checks, read from its syntax tree. Pure.

Per function (by qualified name, `Class::function`): its assertions (`assert`, unittest's
`assert*` methods, mocks' `assert_called*`, `pytest.raises` and kin), each ranked by how much it
pins down; its skip and xfail markers and unconditional skip calls; its parametrised cases; the
file's helpers it calls. Trees are compared as `ast.dump` without positions, names kept, so
formatting and comments never count. gatekeeper.core.weakened compares two such readings.
"""

from __future__ import annotations

import ast
import dataclasses
from collections import Counter
from dataclasses import dataclass

MAX_CHARS = 512 * 1024  # per side: larger files are not compared, and say so
MAX_NODES = 200_000  # per side, counted before anything walks the tree twice
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
_WRAPPERS = {"len", "str", "repr", "list", "tuple", "set", "frozenset", "sorted", "dict",
             "bool", "int", "float", "type", "bytes"}
_SKIP_CALLS = {"pytest.skip", "pytest.xfail", "self.skipTest", "pytest.fail.skip",
               "unittest.SkipTest", "SkipTest", "skip.Exception"}


class NotCompared(Exception):
    """The text could not be read as Python within the bounds; the message says why."""


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
    """A function, a class (its markers only) or the module (name "": its markers only)."""
    name: str  # qualified: Class::function
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    checks: list[Check]
    calls: list[str]  # local helpers it calls, by qualified name
    skips: Counter  # skip markers and unconditional skip calls, by normalised tree
    skip_text: dict[str, tuple[str, int]]
    params: dict[str, tuple[int | None, str]]  # parametrize argnames -> (cases or None, text)
    is_test: bool
    spans: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # lines it rests on


# --- reading a file -----------------------------------------------------------------------

def read_tests(text: str) -> dict[str, Func]:
    """The file's functions and classes by qualified name ("" for the module itself);
    NotCompared when it is not Python this interpreter reads, or past the bounds."""
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


def dotted(node: ast.AST) -> str:
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
    name = dotted(call.func if call else node)
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
    key = dump(node)
    func.skips[key] += 1
    func.skip_text.setdefault(key, (as_text(node), getattr(node, "lineno", 0)))


def _parametrize(deco: ast.AST, func: Func, literals: dict) -> None:
    if not (isinstance(deco, ast.Call) and dotted(deco.func).endswith("parametrize")):
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
    func.params[_argnames(names)] = (cases, as_text(names))
    for case in values.elts if isinstance(values, (ast.List, ast.Tuple)) else ():
        if isinstance(case, ast.Call) and dotted(case.func).endswith("param"):
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
    return dump(node)


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
            if isinstance(expr, ast.Call) and dotted(expr.func).endswith("suppress") and any(
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
        if exc is not None and dotted(exc) in _SKIP_CALLS and not self.conditional:
            _skip(self.func, node)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = dotted(node.func)
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
                isinstance(node.func, ast.Attribute) and dotted(node.func).startswith("self."):
            self._add("value", node, _method_rank(tail, node), node)
        elif tail.startswith("assert_") or tail.startswith("assert") and len(tail) > 6:
            self._add("value", node, 3, node)  # a library's or the project's own assert helper
        elif isinstance(node.func, ast.Name):
            self.func.calls.append(node.func.id)
        elif isinstance(node.func, ast.Attribute) and dotted(node.func) == "self." + tail:
            self.func.calls.append(self.prefix + tail)
        self.generic_visit(node)

    def _add(self, category: str, node: ast.AST, rank: int, stmt: ast.AST) -> None:
        if self.swallowed:
            rank = 0
        self.func.checks.append(Check(category, rank, dump(stmt) + f"#{self.swallowed > 0}",
                                      _subjects(node), as_text(stmt), getattr(stmt, "lineno", 0),
                                      node))


def _swallows(handler: ast.ExceptHandler) -> bool:
    reraises = any(isinstance(n, ast.Raise) for n in ast.walk(handler))
    return not reraises and (handler.type is None or _catches_assertion(handler.type))


def _catches_assertion(node: ast.AST) -> bool:
    names = [dotted(e) for e in (node.elts if isinstance(node, ast.Tuple) else [node])]
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
        same = dump(node.left) == dump(node.comparators[0])
        if same and isinstance(node.ops[0], (ast.Eq, ast.Is, ast.LtE, ast.GtE)):
            return True
        if same and isinstance(node.ops[0], (ast.NotEq, ast.IsNot, ast.Lt, ast.Gt)):
            return False
    if isinstance(node, ast.Call) and dotted(node.func) == "isinstance" and len(node.args) == 2:
        if dotted(node.args[1]) == "object":
            return True
    return None


def _excluded_middle(values: list[ast.expr]) -> bool:
    """`x or not x`: one side's negation is among the others."""
    dumps = {dump(v) for v in values}
    return any(isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.Not)
               and dump(v.operand) in dumps for v in values)


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
        name = dotted(test.func)
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
            and dump(args[0]) == dump(args[1]):
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
    return isinstance(node, ast.Call) and dotted(node.func).endswith("approx")


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
        name = dotted(node.func)
        if name in ("isinstance", "hasattr", "callable", "issubclass"):
            parts = node.args[:1]
        elif isinstance(node.func, ast.Attribute) and name.rsplit(".", 1)[-1] in (
                "startswith", "endswith", "issubset", "issuperset"):
            parts = [node.func.value]
        elif isinstance(node.func, ast.Attribute) and (node.func.attr.startswith("assert")
                                                       or node.func.attr.startswith("fail")):
            parts = [*node.args, node.func.value] if node.func.attr.startswith("assert_") \
                and dotted(node.func.value) != "self" else list(node.args)
        else:
            parts = [node]
    else:
        parts = [node]
    out = set()
    for part in parts:
        if isinstance(part, ast.Constant) or _approx(part):
            continue
        out.add(dump(part))
        if isinstance(part, ast.Call) and dotted(part.func) in _WRAPPERS and part.args:
            out.add(dump(part.args[0]))
    return frozenset(out)


def dump(node: ast.AST) -> str:
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def dump_list(nodes: list[ast.AST]) -> str:
    return "|".join(dump(n) for n in nodes)


def as_text(node: ast.AST) -> str:
    try:
        return " ".join(ast.unparse(node).split())
    except (ValueError, RecursionError):
        return node.__class__.__name__
