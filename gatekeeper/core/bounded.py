"""YAML, TOML and JSON from a repository, read within bounds: size first, then depth and the
node count with YAML aliases expanded, before anything builds or walks the value.

A YAML alias costs nothing to write and its target's size each time it is read: nine levels
of ten aliases is a few hundred bytes that any walk of the value (validation, merging,
dumping) visits 10^9 times. The count here is made on the composed node graph, memoised per
node, so it is linear in the text. Duplicate mapping keys are refused: "the last one wins"
would let a file say one thing to a reader and another to the gate.

Pure: callers read the files and hand in the text with the name to show in errors.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml


@dataclass(frozen=True)
class Bounds:
    chars: int  # the text's length
    nodes: int  # values in the document, each alias counted as the size of its target
    depth: int  # nesting of mappings and lists, through aliases


CONFIG = Bounds(chars=1024**2, nodes=100_000, depth=64)  # policies, cases, workflows
DATA = Bounds(chars=8 * 1024**2, nodes=2_000_000, depth=64)  # locks, pyprojects
REPORT = Bounds(chars=64 * 1024**2, nodes=20_000_000, depth=64)  # a tool's JSON report


class ParseError(ValueError):
    """The file is not what its format allows, or repeats a key; the message names the file."""

    def __init__(self, name: str, reason: str, line: int | None = None):
        self.name, self.reason, self.line = name, reason, line
        super().__init__(f"{name}:{line}: {reason}" if line else f"{name}: {reason}")


class TooLarge(ParseError):
    """Past a bound: refused before the value was built or walked."""


def load_yaml(text: str, name: str, bounds: Bounds = CONFIG) -> Any:
    return load_yaml_node(text, name, bounds)[0]


def load_yaml_node(text: str, name: str, bounds: Bounds = CONFIG) -> tuple[Any, yaml.Node | None]:
    """The value yaml.safe_load gives, and the composed node graph (for error lines)."""
    _check_size(text, name, bounds)
    try:
        _check_events(text, name, bounds)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, None
            _Measure(name, bounds).walk(node, 1)
            loader.name = name
            try:
                return loader.construct_document(node), node
            except ParseError:
                raise
            except (ValueError, TypeError, OverflowError) as exc:  # a date like 2020-13-45
                raise ParseError(name, f"a value YAML cannot build: {exc}") from None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if "maximum nesting depth" in str(exc.problem):  # libyaml's own cap, far past ours
            raise _too_deep(name, bounds, mark.line + 1 if mark else None) from None
        raise ParseError(name, f"not valid YAML: {exc.problem or exc.context}",
                         mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ParseError(name, f"not valid YAML: {exc}") from None


def load_json(text: str, name: str, bounds: Bounds = DATA) -> Any:
    _check_size(text, name, bounds)
    try:
        data = json.loads(text, object_pairs_hook=lambda pairs: _unique(pairs, name))
    except RecursionError:
        raise _too_deep(name, bounds) from None
    except json.JSONDecodeError as exc:
        raise ParseError(name, f"not valid JSON: {exc.msg}", exc.lineno) from None
    except ParseError:
        raise
    except ValueError as exc:  # an integer longer than Python converts
        raise ParseError(name, f"not valid JSON: {exc}") from None
    _check_shape(data, name, bounds)
    return data


def load_toml(text: str, name: str, bounds: Bounds = DATA) -> dict:
    """tomllib's value; it refuses duplicate keys itself."""
    _check_size(text, name, bounds)
    long_key = _long_key(bounds.depth).search(text)
    if long_key:  # tomllib's cost grows with the square of a key's parts
        raise _too_deep(name, bounds, text.count("\n", 0, long_key.start()) + 1)
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise _too_deep(name, bounds) from None
    except ValueError as exc:  # TOMLDecodeError, or an integer longer than Python converts
        at = re.search(r"\(at line (\d+)", str(exc))
        raise ParseError(name, f"not valid TOML: {exc}", int(at[1]) if at else None) from None
    _check_shape(data, name, bounds)
    return data


@lru_cache(maxsize=4)
def _long_key(parts: int) -> re.Pattern:
    """A dotted key (or anything shaped like one) of more than `parts` parts; starting only
    where a part can start keeps the search linear."""
    part = r"""(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')"""
    return re.compile(rf"""(?<![A-Za-z0-9_"'-]){part}(?:[ \t]*\.[ \t]*{part}){{{parts}}}""")


def _check_size(text: str, name: str, bounds: Bounds) -> None:
    if len(text) > bounds.chars:
        raise TooLarge(name, f"{len(text):,} characters, more than the {bounds.chars:,} read")


def _too_deep(name: str, bounds: Bounds, line: int | None = None) -> TooLarge:
    return TooLarge(name, f"nested more than {bounds.depth} levels deep", line)


def _check_events(text: str, name: str, bounds: Bounds) -> None:
    """Depth and count from the event stream, which is flat: the composer that follows
    recurses once per level, and the pure-Python one would overflow on a deep file."""
    depth = count = 0
    for event in yaml.parse(text, Loader=_Base):
        count += 1
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > bounds.depth:
                raise _too_deep(name, bounds, event.start_mark.line + 1)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if count > 2 * bounds.nodes:  # a start and an end event per collection
            raise TooLarge(name, f"more than {bounds.nodes:,} values",
                           event.start_mark.line + 1)


class _Measure:
    """Nodes and depth of the composed graph as a reader would see it, aliases expanded:
    each node's (size, height) is computed once, so a node reached through many aliases
    costs one lookup each time. Recursion stays within `bounds.depth`."""

    def __init__(self, name: str, bounds: Bounds):
        self.name, self.bounds = name, bounds
        self.known: dict[int, tuple[int, int]] = {}
        self.open: set[int] = set()

    def walk(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        line = node.start_mark.line + 1
        if id(node) in self.known:
            size, height = self.known[id(node)]
        elif id(node) in self.open:
            raise ParseError(self.name, "an alias inside the value it names (a recursive "
                             "structure)", line)
        elif isinstance(node, yaml.ScalarNode):
            size, height = 1, 0
        else:
            if depth > self.bounds.depth:
                raise _too_deep(self.name, self.bounds, line)
            self.open.add(id(node))
            children = node.value if isinstance(node, yaml.SequenceNode) else \
                [part for pair in node.value for part in pair]
            size, height = 1, 1
            for child in children:
                child_size, child_height = self.walk(child, depth + 1)
                size, height = size + child_size, max(height, child_height + 1)
                if size > self.bounds.nodes:
                    raise TooLarge(self.name, f"more than {self.bounds.nodes:,} values once "
                                   "aliases are expanded (an alias bomb?)", line)
            self.open.discard(id(node))
            self.known[id(node)] = (size, height)
        if depth + height - 1 > self.bounds.depth:
            raise _too_deep(self.name, self.bounds, line)
        return size, height


_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when installed
MERGE = "tag:yaml.org,2002:merge"


class _Loader(_Base):  # type: ignore[misc,valid-type]
    name = "?"

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # the first flattening of a node sees its own keys only: merged ones come after
        if not hasattr(node, "checked"):
            node.checked = True
            self._no_duplicates(node)
        super().flatten_mapping(node)

    def _no_duplicates(self, node: yaml.MappingNode) -> None:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == MERGE:
                continue  # merged keys are meant to be overridden
            key = self.construct_object(key_node)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue  # unhashable: the constructor says so
            if first is not key_node:
                raise ParseError(self.name, f"duplicate key {str(key)[:80]!r} (first on line "
                                 f"{first.start_mark.line + 1}): only one of them would count",
                                 key_node.start_mark.line + 1)


def _unique(pairs: list[tuple[str, Any]], name: str) -> dict:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        repeated = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ParseError(name, f"duplicate key {repeated[:80]!r}: only one of them would count")
    return data


def _check_shape(data: Any, name: str, bounds: Bounds) -> None:
    """Depth and count of a built value without recursion (a TOML file's dotted keys can nest
    past any recursion limit)."""
    stack, count = [(data, 1)], 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > bounds.nodes:
            raise TooLarge(name, f"more than {bounds.nodes:,} values")
        if isinstance(value, dict | list):
            if depth > bounds.depth:
                raise _too_deep(name, bounds)
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict)
                                                  else value))
