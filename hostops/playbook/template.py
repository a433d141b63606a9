"""Jinja2 for playbooks: one sandboxed environment in which an undefined name is an error.

Templates (``"systemctl restart {{ service }}"``) render task fields;
expressions (``result.rc == 0``) decide ``when``, ``until`` and ``changed_when``.
The environment is Jinja2's immutable sandbox: a template cannot reach Python
internals nor modify the variables it is given. Values are inserted as text,
never re-rendered, so what a host sends back (a registered ``stdout``) is data,
not template code. The ``quote`` filter makes a value one shell word.

Sources are compiled once and cached: the model keeps plain text.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.environment import TemplateExpression
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hostops.errors import ConfigError

_MARKERS = ("{{", "{%", "{#")
_CACHE = 4096
# A template that is one expression and nothing else: its value keeps its type.
_ONE_EXPRESSION = re.compile(r"\A\s*\{\{(?P<expr>(?:(?!\}\}|\{\{|\{%|\{#).)*)\}\}\s*\Z", re.S)


class TemplateError(Exception):
    """A template or expression could not be rendered for a host; the message is one line."""


def _quote(value: Any) -> str:
    return shlex.quote(str(value))


_ENV = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
)
_ENV.filters["quote"] = _quote
_GLOBALS = frozenset(_ENV.globals)  # range, dict, ...: defined without being variables


def is_template(text: str) -> bool:
    """Whether ``text`` has Jinja2 markup (plain text renders as itself, uncompiled)."""
    return any(marker in text for marker in _MARKERS)


@lru_cache(maxsize=_CACHE)
def _template(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


@lru_cache(maxsize=_CACHE)
def _expression(source: str) -> TemplateExpression:
    return _ENV.compile_expression(source, undefined_to_none=False)


def check_template(source: str) -> None:
    """Compile ``source``; raises jinja2.TemplateSyntaxError (unknown filters included)."""
    if is_template(source):
        _template(source)


def check_expression(source: str) -> None:
    """Compile the expression ``source``; raises jinja2.TemplateSyntaxError."""
    _expression(source)


@dataclass(frozen=True)
class Names:
    """The variables a template or expression reads from its context (its own ``set`` and
    loop names excluded). ``required`` leaves out those it guards somewhere with the
    ``default`` filter or the ``defined``/``undefined`` tests: their author expects them
    to be undefined on some hosts (``when: x is defined and x > 1``)."""

    read: frozenset[str]
    required: frozenset[str]


_NONE = Names(frozenset(), frozenset())
_GUARDS = frozenset({"default", "d", "defined", "undefined"})


@lru_cache(maxsize=_CACHE)
def template_names(source: str) -> Names:
    """The variables the template ``source`` reads."""
    return _names(_ENV.parse(source)) if is_template(source) else _NONE


@lru_cache(maxsize=_CACHE)
def expression_names(source: str) -> Names:
    """The variables the expression ``source`` reads."""
    expr = Parser(_ENV, source, state="variable").parse_expression()
    tree = nodes.Template([nodes.Output([expr])], lineno=1)
    tree.set_environment(_ENV)
    return _names(tree)


@lru_cache(maxsize=_CACHE)
def fields_read(source: str, expression: bool = False) -> frozenset[tuple[str, str]]:
    """The ``(variable, field)`` pairs ``source`` reads by a constant name:
    ``r.stdout`` and ``r['stdout']`` are ``('r', 'stdout')``."""
    if expression:
        expr = Parser(_ENV, source, state="variable").parse_expression()
        tree: nodes.Node = nodes.Template([nodes.Output([expr])], lineno=1)
    elif is_template(source):
        tree = _ENV.parse(source)
    else:
        return frozenset()
    out = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
            out.add((node.node.name, node.attr))
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.node, nodes.Name)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            out.add((node.node.name, node.arg.value))
    return frozenset(out)


def _names(tree: nodes.Template) -> Names:
    read = frozenset(meta.find_undeclared_variables(tree)) - _GLOBALS
    guarded: set[str] = set()
    _guarded(tree, False, guarded)
    return Names(read, read - guarded)


def _guarded(node: nodes.Node, inside: bool, out: set[str]) -> None:
    """Collect the names a guard applies to: ``x | default(...)``, ``x.y is defined``."""
    if isinstance(node, nodes.Name):
        if inside:
            out.add(node.name)
        return
    if isinstance(node, (nodes.Filter, nodes.Test)) and node.name in _GUARDS:
        if node.node is not None:
            _guarded(node.node, True, out)
        for child in node.iter_child_nodes(exclude=("node",)):
            _guarded(child, False, out)
        return
    if inside and isinstance(node, (nodes.Getattr, nodes.Getitem)):
        _guarded(node.node, True, out)  # x.y | default: x may be undefined
        for child in node.iter_child_nodes(exclude=("node",)):
            _guarded(child, False, out)
        return
    for child in node.iter_child_nodes():
        _guarded(child, False, out)


def render(source: str, context: Mapping[str, Any]) -> str:
    """``source`` rendered with ``context``; raises TemplateError."""
    if not is_template(source):
        return source
    try:
        return _template(source).render(context)
    except Exception as exc:  # a filter may raise anything: it is the template that failed
        raise TemplateError(_why(exc, source, context, template_names(source))) from None


def evaluate(source: str, context: Mapping[str, Any]) -> bool:
    """The truth of the expression ``source`` in ``context``; raises TemplateError."""
    try:
        return bool(_expression(source)(**context))
    except Exception as exc:  # as in render()
        raise TemplateError(_why(exc, source, context, expression_names(source))) from None


def value(source: str, context: Mapping[str, Any]) -> Any:
    """``source`` rendered, keeping the type of a template that is a single expression
    (``"{{ packages }}"`` gives the list itself); raises TemplateError."""
    match = _ONE_EXPRESSION.match(source)
    if match is None:
        return render(source, context)
    try:
        return _expression(match.group("expr"))(**context)
    except Exception as exc:  # as in render()
        names = expression_names(match.group("expr"))
        raise TemplateError(_why(exc, source, context, names)) from None


def render_value(data: Any, context: Mapping[str, Any]) -> Any:
    """Every string inside ``data`` (lists and mappings included) through :func:`value`."""
    if isinstance(data, str):
        return value(data, context)
    if isinstance(data, dict):
        return {k: render_value(v, context) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [render_value(v, context) for v in data]
    return data


@lru_cache(maxsize=256)
def _file(path: str, mtime_ns: int, size: int) -> tuple[str, jinja2.Template]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return text, _ENV.from_string(text)


def _load_file(path: str) -> tuple[str, jinja2.Template]:
    st = os.stat(path)
    return _file(path, st.st_mtime_ns, st.st_size)


def check_template_file(path: str) -> Names:
    """Compile the template file at ``path``; the variables it reads. Raises ConfigError
    naming the file and the line of a syntax error (or that it cannot be read)."""
    try:
        text, _ = _load_file(path)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"bad template: {exc.message}", path=path, line=exc.lineno) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the template: {exc}", path=path) from None
    return template_names(text)


def render_file(path: str, context: Mapping[str, Any]) -> str:
    """The template file at ``path`` rendered with ``context``; raises TemplateError."""
    try:
        _, compiled = _load_file(path)
        return compiled.render(context)
    except Exception as exc:  # as in render()
        raise TemplateError(f"template {path}: {_why(exc, '')}") from None


def _why(
    exc: Exception,
    source: str,
    context: Mapping[str, Any] | None = None,
    names: Names | None = None,
) -> str:
    """One line, in the playbook's terms rather than Python's: a type mismatch names
    the variables ``source`` reads that hold text (extra vars always do, as in Ansible)."""
    if isinstance(exc, jinja2.TemplateError):
        text = str(exc)
        if isinstance(exc, jinja2.TemplateSyntaxError) and exc.lineno:
            text += f" (line {exc.lineno})"
    elif isinstance(exc, TypeError):
        read = sorted(names.read) if names is not None else []
        texts = [n for n in read if isinstance((context or {}).get(n), str)]
        said = ", ".join(f"{n} is the text {(context or {})[n]!r}" for n in texts)
        fix = f": convert it, e.g. '{texts[0]} | int'" if texts else ""
        text = f"values of different types ({said or 'text and a number?'}){fix}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = f"{text} (in {source.strip()!r})" if source else text
    return " ".join(text.split())
