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

import shlex
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.environment import TemplateExpression
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

_MARKERS = ("{{", "{%", "{#")
_CACHE = 4096


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


@lru_cache(maxsize=_CACHE)
def template_names(source: str) -> frozenset[str]:
    """The variables a template reads from its context (its own ``set`` and loop names excluded)."""
    if not is_template(source):
        return frozenset()
    return frozenset(meta.find_undeclared_variables(_ENV.parse(source))) - _GLOBALS


@lru_cache(maxsize=_CACHE)
def expression_names(source: str) -> frozenset[str]:
    """The variables an expression reads from its context."""
    expr = Parser(_ENV, source, state="variable").parse_expression()
    tree = nodes.Template([nodes.Output([expr])], lineno=1)
    tree.set_environment(_ENV)
    return frozenset(meta.find_undeclared_variables(tree)) - _GLOBALS


def render(source: str, context: Mapping[str, Any]) -> str:
    """``source`` rendered with ``context``; raises TemplateError."""
    if not is_template(source):
        return source
    try:
        return _template(source).render(context)
    except Exception as exc:  # a filter may raise anything: it is the template that failed
        raise TemplateError(_why(exc, source)) from None


def evaluate(source: str, context: Mapping[str, Any]) -> bool:
    """The truth of the expression ``source`` in ``context``; raises TemplateError."""
    try:
        return bool(_expression(source)(**context))
    except Exception as exc:  # as in render()
        raise TemplateError(_why(exc, source)) from None


def _why(exc: Exception, source: str) -> str:
    text = str(exc) if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: {exc}"
    return f"{text} (in {source.strip()!r})"
