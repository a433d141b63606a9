"""YAML read with line numbers kept, so every complaint can name ``FILE:LINE``.

PyYAML's composer already records where each node starts; these helpers walk
the node tree instead of the constructed data so the line stays at hand.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import yaml

from hostops.errors import ConfigError
from hostops.vault import Vaulted

# libyaml's parser when PyYAML has it (5x faster on a 200-host inventory), same marks.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc,valid-type]  # a base chosen at run time (libyaml or not)
    """Remembers the implicit tag of each plain scalar: host names recur in every group
    that lists them, and the resolver's regexes were the largest cost of a large file."""

    def __init__(self, stream: str, source_path: str = "") -> None:
        super().__init__(stream)
        self._tags: dict[str, str] = {}
        self.source_path = source_path

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            tag = self._tags.get(value)
            if tag is None:
                tag = self._tags[value] = str(super().resolve(kind, value, implicit))
            return tag
        return str(super().resolve(kind, value, implicit))


_STR = "tag:yaml.org,2002:str"


def _vault(loader: _Loader, node: yaml.Node) -> Vaulted:
    """``!vault |``: the ciphertext, kept as it is until a password decrypts it."""
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(
            None, None, "a !vault value must be a text block", node.start_mark
        )
    return Vaulted(node.value, f"{loader.source_path}:{node.start_mark.line + 1}")


def _unsafe(loader: _Loader, node: yaml.Node) -> Any:
    """``!unsafe``: Ansible's "never template this" marker; the value itself is plain."""
    if isinstance(node, yaml.ScalarNode):
        return node.value
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor("!vault", _vault)
_Loader.add_constructor("!unsafe", _unsafe)


@dataclass(frozen=True)
class Node:
    """A YAML node and the file it came from."""

    node: yaml.Node
    path: str
    loader: yaml.SafeLoader | yaml.CSafeLoader

    @property
    def line(self) -> int:
        return self.node.start_mark.line + 1

    def error(self, message: str) -> ConfigError:
        """A ConfigError pointing at this node."""
        return ConfigError(message, path=self.path, line=self.line)

    @property
    def kind(self) -> str:
        """What the node is, for messages: ``a mapping``, ``a list``, ``empty``, ``the scalar 'x'``."""
        return _kind(self.node)

    def is_null(self) -> bool:
        return isinstance(self.node, yaml.ScalarNode) and self.node.tag == "tag:yaml.org,2002:null"

    def value(self) -> Any:
        """The plain Python value of this node (and all below it)."""
        if self.node.tag == _STR:  # the common case, 10x faster than the constructor
            return self.node.value
        try:
            return self.loader.construct_object(self.node, deep=True)
        except yaml.MarkedYAMLError as exc:  # e.g. an unknown tag: found only when built
            raise _config_error(exc, self.path) from None

    def mapping(self, what: str) -> list[tuple[str, Node]]:
        """The (key, value) pairs of a mapping node; duplicate keys are an error."""
        if not isinstance(self.node, yaml.MappingNode):
            raise self.error(f"{what} must be a mapping, not {_kind(self.node)}")
        pairs: list[tuple[str, Node]] = []
        seen: dict[str, int] = {}
        path, loader = self.path, self.loader
        for key_node, value_node in self.node.value:
            # Keys are nearly always plain strings: skip the constructor (large inventories).
            key = key_node.value if key_node.tag == _STR else Node(key_node, path, loader).value()
            if not isinstance(key, str) or not key:
                raise Node(key_node, path, loader).error(
                    f"keys in {what} must be non-empty strings, not {key!r}"
                )
            line = key_node.start_mark.line + 1
            if key in seen:
                raise Node(key_node, path, loader).error(
                    f"duplicate key {key!r} in {what} (first at line {seen[key]})"
                )
            seen[key] = line
            pairs.append((key, Node(value_node, path, loader)))
        return pairs

    def keyed(self, what: str, allowed: tuple[str, ...]) -> dict[str, Node]:
        """The mapping's entries by key; an unknown key is an error at its line, with a
        did-you-mean and the allowed keys."""
        out = {}
        for key, value in self.mapping(what):
            if key not in allowed:
                line = next(
                    (k.start_mark.line + 1 for k, _ in self.node.value if k.value == key), self.line
                )
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ConfigError(
                    f"unknown key {key!r} in {what} ({hint}allowed: {', '.join(allowed)})",
                    path=self.path,
                    line=line,
                )
            out[key] = value
        return out


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "empty"
    return f"the scalar {node.value!r}"


def load_yaml(path: str) -> Node:
    """Parse one YAML document from ``path``; syntax errors name the file and line."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError("no such file", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=path) from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: str) -> Node:
    """Parse one YAML document of the file ``path`` whose content is ``text``.

    Raises ConfigError (``FILE:LINE``) for invalid YAML, nesting deeper than
    :data:`MAX_NESTING`, and aliases that would expand to more than
    :data:`MAX_EXPANDED` values (a "billion laughs" document).
    """
    loader = _Loader(str(text), path)  # exactly a str: libyaml refuses a subclass
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise _config_error(exc, path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=path) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", path=path) from None
    if node is None:
        raise ConfigError("the file is empty", path=path, line=1)
    _check_size(node, path)
    return Node(node, path, loader)


MAX_NESTING = 200
"""Deepest nesting of mappings and lists in one document."""
MAX_EXPANDED = 1_000_000
"""Most values one document may stand for once its aliases are expanded."""


def _check_size(root: yaml.Node, path: str) -> None:
    """Refuse documents nested too deeply or whose aliases expand too far, in time linear
    in the number of distinct nodes (an alias is the same node object met again)."""
    sizes: dict[int, int] = {}
    depth_of: dict[int, int] = {id(root): 1}
    todo: list[tuple[yaml.Node, bool]] = [(root, False)]
    while todo:
        node, done = todo.pop()
        key = id(node)
        if key in sizes:
            continue
        kids = _children(node)
        if not done:
            depth = depth_of[key]
            if depth > MAX_NESTING:
                raise ConfigError(
                    f"nested more than {MAX_NESTING} levels deep",
                    path=path,
                    line=node.start_mark.line + 1,
                )
            todo.append((node, True))
            for kid in kids:
                if id(kid) not in sizes:
                    depth_of[id(kid)] = max(depth_of.get(id(kid), 0), depth + 1)
                    todo.append((kid, False))
            continue
        size = 1 + sum(sizes.get(id(kid), 1) for kid in kids)
        if size > MAX_EXPANDED:
            raise ConfigError(
                f"aliases expand this value to more than {MAX_EXPANDED:,} values",
                path=path,
                line=node.start_mark.line + 1,
            )
        sizes[key] = size


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _config_error(exc: yaml.MarkedYAMLError, path: str) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    if "expected ',' or ']'" in problem:  # the usual cause: [web[01-05]] in a flow list
        problem += ' (a node range inside [...] must be quoted: ["web[01-05]"])'
    return ConfigError(f"invalid YAML: {problem}", path=path, line=mark.line + 1 if mark else None)
