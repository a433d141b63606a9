"""Read a playbook file into the model, checking everything that can be checked without hosts.

Every problem is a ConfigError naming ``FILE:LINE`` (the line of the offending
key or value): bad YAML, an unknown key (with a did-you-mean), a task with no
action or two, a value of the wrong type, a malformed host pattern, template
syntax errors and unknown filters. Undefined variables depend on the hosts:
:func:`hostops.playbook.plan.prepare` checks them, before anything runs.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from typing import Any

import jinja2
import yaml

from hostops.batches import Count
from hostops.errors import ConfigError
from hostops.inventory.patterns import PatternError, check_syntax
from hostops.inventory.yamlsrc import Node, load_yaml
from hostops.models import LOCK_NAME
from hostops.playbook import template
from hostops.playbook.model import (
    LOCALHOST,
    Action,
    CommandAction,
    DownloadAction,
    MetaAction,
    Play,
    Playbook,
    ScriptAction,
    Task,
    TemplateAction,
    UploadAction,
)

# `become`/`become_user` are Ansible's spellings of `sudo`/`sudo_user`.
SUDO_KEYS = ("sudo", "become", "sudo_user", "become_user")
PLAY_KEYS = (
    "name",
    "hosts",
    "vars",
    "serial",
    "max_fail",
    "tags",
    *SUDO_KEYS,
    "force_handlers",
    "lock",
    "tasks",
    "handlers",
)
KINDS = ("run", "script", "put", "template", "get", "meta")
OPTIONS = (
    "name",
    *SUDO_KEYS,
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
    "tty",
    "loop",
    "loop_control",
    "notify",
    "run_once",
    "delegate_to",
    "tags",
)
PUT_KEYS = ("src", "dest", "mode", "owner", "group", "backup")
GET_KEYS = ("src", "dest")
LOOP_CONTROL_KEYS = ("loop_var", "label", "index_var")
META = ("flush_handlers",)
# Names every host has (as in Ansible); no playbook variable may take them.
MAGIC_VARS = ("inventory_hostname", "group_names")
_COMMANDS = ("run", "script")
_SUDO_KINDS = ("run", "script", "put", "template")
# Options that mean something for some actions only.
_ONLY_FOR = {
    "env": _COMMANDS,
    "cwd": _COMMANDS,
    "tty": _COMMANDS,
    "sudo": _SUDO_KINDS,
    "become": _SUDO_KINDS,
    "sudo_user": _SUDO_KINDS,
    "become_user": _SUDO_KINDS,
    "delegate_to": ("run",),
}
_META_OPTIONS = ("name", "tags")  # all a meta task may have
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
    defaults = _Defaults(
        sudo=_sudo(body, what),
        sudo_user=_sudo_user(body, what),
        tags=_tags(body["tags"], f"{what}: tags") if "tags" in body else (),
    )
    handler_items = _items(body["handlers"], f"{what}: handlers") if "handlers" in body else []
    handlers = tuple(
        _task(item, n, what, defaults, handler=True) for n, item in enumerate(handler_items, 1)
    )
    _check_handler_names(handlers, handler_items, what)
    items = _items(body["tasks"], f"{what}: tasks")
    tasks = tuple(_task(item, n, what, defaults) for n, item in enumerate(items, 1))
    names = [h.name for h in handlers]
    for task, item in zip((*tasks, *handlers), (*items, *handler_items), strict=True):
        _check_notify(task, item, names, what)
    lock = None
    if "lock" in body:
        lock = _text(body["lock"], f"{what}: lock")
        if not LOCK_NAME.match(lock):
            raise body["lock"].error(
                f"{what}: lock: {lock!r} is not a lock name (letters, digits, '.', '_', '-')"
            )
    return Play(
        hosts=hosts,
        tasks=tasks,
        line=node.line,
        name=name,
        vars=_vars(body["vars"], what) if "vars" in body else {},
        serial=_count(body["serial"], f"{what}: serial", 1) if "serial" in body else None,
        max_fail=_count(body["max_fail"], f"{what}: max_fail", 0) if "max_fail" in body else None,
        handlers=handlers,
        tags=defaults.tags,
        force_handlers=_flag(body, "force_handlers", what),
        lock=lock,
    )


@dataclass(frozen=True)
class _Defaults:
    """What a play gives its tasks: sudo (become) and its user, and its tags."""

    sudo: bool | None
    sudo_user: str | None
    tags: tuple[str, ...]


def _check_handler_names(handlers: tuple[Task, ...], items: list[Node], what: str) -> None:
    seen: set[str] = set()
    for handler, item in zip(handlers, items, strict=True):
        if handler.name in seen:
            raise item.error(f"{what}: handlers: two handlers are named {handler.name!r}")
        seen.add(handler.name)


def _check_notify(task: Task, node: Node, handlers: list[str], what: str) -> None:
    at = dict(node.mapping(what)).get("notify", node)
    for name in task.notify:
        if name not in handlers:
            close = difflib.get_close_matches(name, handlers, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(repr(h) for h in handlers) if handlers else "none"
            raise at.error(
                f"{what}: task {task.title!r}: notify: no handler named {name!r}{hint};"
                f" this play's handlers: {known}"
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


def _task(
    node: Node, number: int, play: str, defaults: _Defaults, *, handler: bool = False
) -> Task:
    noun = "handler" if handler else "task"
    name = _name_of(node, f"{noun} {number} of {play}")
    what = f"{noun} {name!r}" if name else f"{noun} {number}"
    if handler and not name:
        raise node.error(f"{what} of {play} needs a name: tasks notify handlers by name")
    keys = node.mapping(what)
    if not any(key in KINDS for key, _ in keys):
        for key, value in keys:
            if key not in OPTIONS:  # most likely an action hostops does not have
                close = difflib.get_close_matches(key, KINDS, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise value.error(
                    f"{what}: unknown action {key!r} ({hint}actions: {', '.join(KINDS)})"
                )
    for key, value in keys:
        if key.startswith("with_"):
            raise value.error(f"{what}: {key} is not supported: write loop: instead")
    body = node.keyed(what, (*KINDS, *OPTIONS))
    kinds = [k for k in KINDS if k in body]
    if not kinds:
        raise node.error(f"{what} has no action: give one of {', '.join(KINDS)}")
    if len(kinds) > 1:
        raise body[kinds[1]].error(f"{what} has both {kinds[0]} and {kinds[1]}: one per task")
    kind = kinds[0]
    if kind == "meta":
        return _meta(body, node, what, defaults)
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
    own_sudo = _sudo(body, what)
    said = defaults.sudo if own_sudo is None else own_sudo
    # Neither the task nor its play says: None, so the host's ansible_become (or the
    # run's --sudo) decides, as Ansible's inventory become applies to every task.
    sudo = (said if said is not None else None) if kind in _SUDO_KINDS else False
    sudo_user = _sudo_user(body, what) or defaults.sudo_user
    action = _action(kind, body[kind], what)
    if isinstance(action, UploadAction) and (action.owner or action.group) and not sudo:
        raise body[kind].error(
            f"{what}: {kind}: owner and group need sudo: true (or become: true):"
            " only root may give files away"
        )
    delegate_to = None
    if "delegate_to" in body:
        delegate_to = _text(body["delegate_to"], f"{what}: delegate_to")
        if delegate_to != LOCALHOST:
            raise body["delegate_to"].error(
                f"{what}: delegate_to: only {LOCALHOST!r} (the controller) is supported,"
                f" not {delegate_to!r}"
            )
        if sudo:
            raise body["delegate_to"].error(
                f"{what}: delegate_to: {LOCALHOST} runs as you, without sudo"
            )
    loop = _loop(body["loop"], f"{what}: loop") if "loop" in body else None
    control = _loop_control(body["loop_control"], what) if "loop_control" in body else {}
    if control and loop is None:
        raise body["loop_control"].error(f"{what}: loop_control needs loop")
    tags = _tags(body["tags"], f"{what}: tags") if "tags" in body else ()
    return Task(
        action=action,
        line=node.line,
        name=name,
        sudo=sudo,
        sudo_user=sudo_user if sudo is not False else None,
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
        loop=loop,
        loop_var=control.get("loop_var", "item"),
        loop_label=control.get("label"),
        index_var=control.get("index_var"),
        notify=_names(body["notify"], f"{what}: notify") if "notify" in body else (),
        run_once=_flag(body, "run_once", what),
        delegate_to=delegate_to,
        tags=_merge(defaults.tags, tags),
        tty=_flag(body, "tty", what),
    )


def _meta(body: dict[str, Node], node: Node, what: str, defaults: _Defaults) -> Task:
    for key, value in body.items():
        if key not in ("meta", *_META_OPTIONS):
            raise value.error(f"{what}: {key} does not apply to meta (only name and tags do)")
    what_meta = _text(body["meta"], f"{what}: meta")
    if what_meta not in META:
        close = difflib.get_close_matches(what_meta, META, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise body["meta"].error(
            f"{what}: meta: unknown {what_meta!r} ({hint}supported: {', '.join(META)})"
        )
    tags = _tags(body["tags"], f"{what}: tags") if "tags" in body else ()
    name = _text(body["name"], f"{what}: name") if "name" in body else ""
    return Task(MetaAction(what_meta), line=node.line, name=name, tags=_merge(defaults.tags, tags))


def _merge(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*first, *second)))


def _either(body: dict[str, Node], keys: tuple[str, str], what: str) -> Node | None:
    """The node of ``keys[0]`` or of its Ansible spelling ``keys[1]``; both is an error."""
    if keys[0] in body and keys[1] in body:
        raise body[keys[1]].error(
            f"{what}: {keys[1]} is {keys[0]} spelled the Ansible way: give one of them"
        )
    return body.get(keys[0]) or body.get(keys[1])


def _sudo(body: dict[str, Node], what: str) -> bool | None:
    """``sudo``/``become`` as given (None when neither is)."""
    node = _either(body, ("sudo", "become"), what)
    if node is None:
        return None
    value = node.value()
    if not isinstance(value, bool):
        key = "sudo" if "sudo" in body else "become"
        raise node.error(f"{what}: {key} must be true or false, not {value!r}")
    return value


def _sudo_user(body: dict[str, Node], what: str) -> str | None:
    node = _either(body, ("sudo_user", "become_user"), what)
    if node is None:
        return None
    user = _text(node, f"{what}: sudo_user")
    if user.startswith("-") or any(c.isspace() for c in user):
        raise node.error(f"{what}: sudo_user: {user!r} is not a user name")
    return user


def _tags(node: Node, what: str) -> tuple[str, ...]:
    """Tags: a list of names, or one string of comma-separated names (as Ansible takes)."""
    return _names(node, what, split=True)


def _names(node: Node, what: str, *, split: bool = False) -> tuple[str, ...]:
    items = _items(node, what) if node.node.tag == _SEQ else [node]
    out = []
    for item in items:
        value = item.value()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise item.error(f"{what}: expected a name or a list of names, not {item.kind}")
        parts = value.split(",") if split else [value]
        for part in parts:
            if not part.strip():
                raise item.error(f"{what}: empty name in {value!r}")
            out.append(part.strip())
    return tuple(dict.fromkeys(out))


def _loop(node: Node, what: str) -> str | tuple[Any, ...]:
    """A YAML list (its strings may be templates), or one template that gives a list."""
    if node.node.tag == _SEQ:
        items = tuple(node.value())
        for item in items:
            for text in _strings(item):
                _check_template(text, node, what)
        return items
    value = node.value()
    if not isinstance(value, str) or not template.is_template(value):
        raise node.error(
            f'{what} must be a list or a template giving one ("{{{{ packages }}}}"),'
            f" not {node.kind}"
        )
    return _check_template(value, node, what)


def _loop_control(node: Node, what: str) -> dict[str, str]:
    body = node.keyed(f"{what}: loop_control", LOOP_CONTROL_KEYS)
    out = {}
    for key, value in body.items():
        if key == "label":
            out[key] = _template(value, f"{what}: loop_control: label")
        else:
            out[key] = _text(value, f"{what}: loop_control: {key}")
            _check_name(out[key], value, f"{what}: loop_control: {key}")
    if out.get("index_var") and out.get("index_var") == out.get("loop_var", "item"):
        raise body["index_var"].error(f"{what}: loop_control: index_var and loop_var are the same")
    return out


def _action(kind: str, node: Node, what: str) -> Action:
    if kind == "run":
        return CommandAction(_template(node, f"{what}: run"))
    if kind == "script":
        return ScriptAction(_template(node, f"{what}: script"))
    keys = GET_KEYS if kind == "get" else PUT_KEYS
    body = node.keyed(f"{what}: {kind}", keys)
    for key in ("src", "dest"):
        if key not in body:
            raise node.error(f"{what}: {kind} needs {key!r} (give {', '.join(keys)})")
    src = _template(body["src"], f"{what}: {kind}: src")
    dest = _template(body["dest"], f"{what}: {kind}: dest")
    if kind == "get":
        return DownloadAction(src, dest)
    owner, group = (
        _template(body[k], f"{what}: {kind}: {k}") if k in body else None
        for k in ("owner", "group")
    )
    install = TemplateAction if kind == "template" else UploadAction
    return install(
        src,
        dest,
        _mode(body["mode"], f"{what}: {kind}: mode") if "mode" in body else None,
        owner,
        group,
        _flag(body, "backup", f"{what}: {kind}"),
    )


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
