"""Read a playbook file into the model, checking everything that can be checked without hosts.

Every problem is a ConfigError naming ``FILE:LINE`` (the line of the offending
key or value): bad YAML, an unknown key (with a did-you-mean), a task with no
action or two, a value of the wrong type, a malformed host pattern, template
syntax errors and unknown filters. Undefined variables depend on the hosts:
:func:`hostops.playbook.plan.prepare` checks them, before anything runs.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from typing import Any

import jinja2
import yaml

from hostops.errors import ConfigError
from hostops.inventory.patterns import PatternError, check_syntax
from hostops.inventory.yamlsrc import Node, load_yaml
from hostops.playbook import template
from hostops.playbook.model import Action, Count, Get, Play, Playbook, Put, Run, Script, Task

PLAY_KEYS = ("name", "hosts", "vars", "serial", "max_fail", "become", "tasks")
KINDS = ("run", "script", "put", "get")
OPTIONS = (
    "name",
    "sudo",
    "become",  # Ansible's word for sudo
    "timeout",
    "retries",
    "until",
    "delay",
    "ignore_errors",
    "when",
    "changed_when",
    "creates",
    "removes",
    "register",
    "env",
    "cwd",
)
PUT_KEYS = ("src", "dest", "mode")
GET_KEYS = ("src", "dest")
# Names every host has (as in Ansible); no playbook variable may take them.
MAGIC_VARS = ("inventory_hostname", "group_names")
# Options that mean something for some actions only.
_ONLY_FOR = {
    "env": ("run", "script"),
    "cwd": ("run", "script"),
    "sudo": ("run", "script", "put"),
    "become": ("run", "script", "put"),
}
DEFAULT_RETRIES = 3  # when `until` is given without `retries`, as Ansible does

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MODE = re.compile(r"(0o|0)?[0-7]{1,4}\Z")
_SEQ = "tag:yaml.org,2002:seq"


def load_playbook(path: str | os.PathLike[str]) -> Playbook:
    """Read and check the playbook at ``path``. Raises ConfigError (``FILE:LINE: …``)."""
    path = os.fspath(path)
    root = load_yaml(path)
    plays = tuple(_play(item, n) for n, item in enumerate(_items(root, "a playbook"), 1))
    if not plays:
        raise root.error("the playbook has no plays")
    return Playbook(path, plays)


def parse_mode(text: str) -> int:
    """File permissions written in octal (``0644``, ``644``, ``0o644``); raises ValueError."""
    text = text.strip()
    if not _MODE.match(text):
        raise ValueError(f"a mode is 3 or 4 octal digits like 0644, not {text!r}")
    return int(text.removeprefix("0o") or "0", 8)


def _items(node: Node, what: str) -> list[Node]:
    if node.node.tag != _SEQ:
        raise node.error(f"{what} is a list, not {node.kind}")
    return [Node(item, node.path, node.loader) for item in node.node.value]


def _play(node: Node, number: int) -> Play:
    what = f"play {number}"
    name = _name_of(node, what)
    if name:
        what = f"play {name!r}"
    body = node.keyed(what, PLAY_KEYS)
    if "hosts" not in body:
        raise node.error(f"{what}: 'hosts' is missing (a host pattern, such as 'all' or 'web')")
    hosts = _text(body["hosts"], f"{what}: hosts")
    try:
        check_syntax(hosts)
    except PatternError as exc:
        raise body["hosts"].error(f"{what}: hosts: {exc}") from None
    if "tasks" not in body:
        raise node.error(f"{what}: 'tasks' is missing")
    items = _items(body["tasks"], f"{what}: tasks")
    tasks = tuple(_task(item, n, what) for n, item in enumerate(items, 1))
    if "become" in body:  # the default of the play's tasks that say nothing themselves
        become = _flag(body, "become", what)
        tasks = tuple(
            t if t.sudo is not None else dataclasses.replace(t, sudo=become) for t in tasks
        )
    return Play(
        hosts=hosts,
        tasks=tasks,
        line=node.line,
        name=name,
        vars=_vars(body["vars"], what) if "vars" in body else {},
        serial=_count(body["serial"], f"{what}: serial", 1) if "serial" in body else None,
        max_fail=_count(body["max_fail"], f"{what}: max_fail", 0) if "max_fail" in body else None,
    )


def _name_of(node: Node, what: str) -> str:
    """The ``name`` of a play or task, read before its other keys so errors can use it."""
    for key, value in node.mapping(what):
        if key == "name":
            return _text(value, f"{what}: name")
    return ""


def _vars(node: Node, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.mapping(f"{what}: vars"):
        _check_name(key, value, f"{what}: vars")
        out[key] = value.value()
        for text in _strings(out[key]):
            _check_template(text, value, f"{what}: vars: {key}")
    return out


def _strings(value: Any) -> list[str]:
    """Every string inside a variable's value (nested lists and mappings included)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _check_name(name: str, node: Node, what: str) -> None:
    if not _NAME.match(name):
        raise node.error(f"{what}: {name!r} is not a variable name (letters, digits and _)")
    if name in MAGIC_VARS:
        raise node.error(f"{what}: {name!r} is set by hostops for every host; choose another name")


def _count(node: Node, what: str, minimum: int) -> Count:
    value = node.value()
    count = Count.parse(value, minimum) if not isinstance(value, str) or "%" in value else None
    if count is None:
        usage = f"a number of hosts (at least {minimum}) or a percentage such as '30%'"
        raise node.error(f"{what} must be {usage}, not {value!r}")
    return count


def _task(node: Node, number: int, play: str) -> Task:
    name = _name_of(node, f"task {number} of {play}")
    what = f"task {name!r}" if name else f"task {number}"
    keys = node.mapping(what)
    if not any(key in KINDS for key, _ in keys):
        for key, value in keys:
            if key not in OPTIONS:  # most likely an action hostops does not have
                close = difflib.get_close_matches(key, KINDS, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise value.error(
                    f"{what}: unknown action {key!r} ({hint}actions: {', '.join(KINDS)})"
                )
    body = node.keyed(what, (*KINDS, *OPTIONS))
    kinds = [k for k in KINDS if k in body]
    if not kinds:
        raise node.error(f"{what} has no action: give one of {', '.join(KINDS)}")
    if len(kinds) > 1:
        raise body[kinds[1]].error(f"{what} has both {kinds[0]} and {kinds[1]}: one per task")
    kind = kinds[0]
    for key, allowed in _ONLY_FOR.items():
        if key in body and kind not in allowed:
            raise body[key].error(
                f"{what}: {key} applies to {', '.join(allowed)} tasks, not {kind}"
            )
    until = _expressions(body["until"], f"{what}: until") if "until" in body else ()
    if "retries" in body:
        retries = _number(body["retries"], f"{what}: retries", integer=True)
    else:
        retries = DEFAULT_RETRIES if until else 0
    register = None
    if "register" in body:
        register = _text(body["register"], f"{what}: register")
        _check_name(register, body["register"], f"{what}: register")
    return Task(
        action=_action(kind, body[kind], what),
        line=node.line,
        name=name,
        sudo=_sudo(body, what),
        timeout=_positive(body["timeout"], f"{what}: timeout") if "timeout" in body else None,
        retries=int(retries),
        until=until,
        delay=_number(body["delay"], f"{what}: delay") if "delay" in body else 5.0,
        ignore_errors=_flag(body, "ignore_errors", what),
        when=_expressions(body["when"], f"{what}: when") if "when" in body else (),
        changed_when=(
            _expressions(body["changed_when"], f"{what}: changed_when")
            if "changed_when" in body
            else ()
        ),
        creates=_template(body["creates"], f"{what}: creates") if "creates" in body else None,
        removes=_template(body["removes"], f"{what}: removes") if "removes" in body else None,
        register=register,
        env=_env(body["env"], what) if "env" in body else (),
        cwd=_template(body["cwd"], f"{what}: cwd") if "cwd" in body else None,
    )


def _action(kind: str, node: Node, what: str) -> Action:
    if kind == "run":
        return Run(_template(node, f"{what}: run"))
    if kind == "script":
        return Script(_template(node, f"{what}: script"))
    keys = PUT_KEYS if kind == "put" else GET_KEYS
    body = node.keyed(f"{what}: {kind}", keys)
    for key in ("src", "dest"):
        if key not in body:
            raise node.error(f"{what}: {kind} needs {key!r} (give {', '.join(keys)})")
    src = _template(body["src"], f"{what}: {kind}: src")
    dest = _template(body["dest"], f"{what}: {kind}: dest")
    if kind == "get":
        return Get(src, dest)
    return Put(src, dest, _mode(body["mode"], f"{what}: put: mode") if "mode" in body else None)


def _mode(node: Node, what: str) -> str:
    # The text as written: YAML reads 0644 as the integer 420 and 644 as 644,
    # but whoever writes a mode means octal either way.
    text = node.node.value if isinstance(node.node, yaml.ScalarNode) else None
    if not isinstance(text, str) or not text:
        raise node.error(f"{what} must be octal digits such as 0644, not {node.value()!r}")
    if template.is_template(text):
        return _check_template(text, node, what)
    try:
        parse_mode(text)
    except ValueError as exc:
        raise node.error(f"{what}: {exc}") from None
    return text


def _env(node: Node, what: str) -> tuple[tuple[str, str], ...]:
    out = []
    for key, value in node.mapping(f"{what}: env"):
        if not _NAME.match(key):
            raise value.error(f"{what}: env: {key!r} is not an environment variable name")
        scalar = value.value()
        if isinstance(scalar, bool) or not isinstance(scalar, (str, int, float)):
            raise value.error(
                f"{what}: env: {key} must be a string or a number, not {scalar!r} (quote it)"
            )
        out.append((key, _check_template(str(scalar), value, f"{what}: env: {key}")))
    return tuple(out)


def _expressions(node: Node, what: str) -> tuple[str, ...]:
    """``when``-style conditions: an expression, true/false, or a list of them (all must hold)."""
    items = _items(node, what) if node.node.tag == _SEQ else [node]
    out = []
    for item in items:
        value = item.value()
        if isinstance(value, bool):
            out.append(str(value))
            continue
        if not isinstance(value, str) or not value.strip():
            raise item.error(f"{what} must be an expression such as result.rc == 0, not {value!r}")
        if template.is_template(value):
            raise item.error(f"{what} is an expression: write it without {{{{ }}}}, not {value!r}")
        try:
            template.check_expression(value)
        except jinja2.TemplateSyntaxError as exc:
            raise item.error(f"{what}: bad expression {value!r}: {exc.message}") from None
        out.append(value)
    return tuple(out)


def _template(node: Node, what: str) -> str:
    return _check_template(_text(node, what), node, what)


def _check_template(text: str, node: Node, what: str) -> str:
    try:
        template.check_template(text)
    except jinja2.TemplateSyntaxError as exc:
        # Point at the template's own line inside a multi-line value.
        block = isinstance(node.node, yaml.ScalarNode) and node.node.style in ("|", ">")
        line = node.line + int(block) + (exc.lineno or 1) - 1
        raise ConfigError(
            f"{what}: bad template: {exc.message}", path=node.path, line=line
        ) from None
    return text


def _text(node: Node, what: str) -> str:
    value = node.value()
    if not isinstance(value, str) or not value.strip():
        raise node.error(f"{what} must be a non-empty string, not {node.kind}")
    return value


def _sudo(body: dict[str, Node], what: str) -> bool | None:
    """A task's ``sudo`` (or ``become``, Ansible's word); None when it says neither."""
    if "sudo" in body and "become" in body:
        raise body["become"].error(f"{what}: give sudo or become, not both")
    key = "become" if "become" in body else "sudo"
    return _flag(body, key, what) if key in body else None


def _flag(body: dict[str, Node], key: str, what: str) -> bool:
    if key not in body:
        return False
    value = body[key].value()
    if not isinstance(value, bool):
        raise body[key].error(f"{what}: {key} must be true or false, not {value!r}")
    return value


def _number(node: Node, what: str, *, integer: bool = False) -> float:
    value = node.value()
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < 0:
        noun = "a whole number" if integer else "a number of seconds"
        raise node.error(f"{what} must be {noun}, at least 0, not {value!r}")
    return value


def _positive(node: Node, what: str) -> float:
    value = _number(node, what)
    if value <= 0:
        raise node.error(f"{what} must be a number of seconds above 0, not {value!r}")
    return float(value)
