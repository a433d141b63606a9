"""A task rendered for one host: the operations an executor runs, with every value quoted.

``cwd`` and ``env`` become part of the shell text (``cd -- DIR || exit``,
``export NAME=VALUE``, each value one shell word); ``creates``/``removes``
become one probe command; a ``~`` at the start of a path means the home
directory (of the login user for put/get; of the user the command runs as
for commands).
"""

from __future__ import annotations

import os
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hostops.host.transfer import download_path
from hostops.operations import Command, Download, Operation, Upload
from hostops.playbook import template
from hostops.playbook.load import parse_mode
from hostops.playbook.model import (
    CommandAction,
    DownloadAction,
    MetaAction,
    Playbook,
    ScriptAction,
    Task,
    TemplateAction,
    UploadAction,
)
from hostops.playbook.plan import local_path, script_words

# What a probe prints on stdout (with exit code 0) when the task is to be skipped.
PROBE_CREATES = "creates"
PROBE_REMOVES = "removes"


@dataclass(frozen=True)
class ScriptRun:
    """A script task for one host: upload the local script, run it, remove it."""

    upload: Upload  # to a fresh name in the login user's home, mode 0700
    args: str  # shell text after the script's path
    env: tuple[tuple[str, str], ...]
    cwd: str | None
    sudo: bool | None  # None: the host's (inventory become) or the run's
    timeout: float | None
    sudo_user: str | None = None
    tty: bool = False

    def command(self, remote: str) -> Command:
        """Run the uploaded script, found at the absolute path ``remote``."""
        line = shlex.quote(remote) + (f" {self.args}" if self.args else "")
        return Command(
            compose_command(line, self.env, self.cwd),
            self.sudo,
            self.timeout,
            sudo_user=self.sudo_user,
            tty=self.tty,
        )

    def cleanup(self, remote: str) -> Command:
        return Command(f"rm -f -- {shlex.quote(remote)}", timeout=self.timeout)


@dataclass(frozen=True)
class Rendered:
    """A task for one host: ``operation``, or ``script`` for a script task; ``creates``
    and ``removes`` rendered (see :attr:`probe`). For a template, ``content`` is the
    rendered file, and the operation's ``src`` the template's path: the runner writes
    the content to a local file to upload."""

    operation: Operation | None
    script: ScriptRun | None = None
    creates: str | None = None
    removes: str | None = None
    content: str | None = None

    @property
    def probe(self) -> str | None:
        """The command to run first when the task has creates/removes (see probe_command)."""
        if self.creates or self.removes:
            return probe_command(self.creates, self.removes)
        return None


def render_task(playbook: Playbook, task: Task, context: Mapping[str, Any]) -> Rendered:
    """Render ``task`` in ``context``; raises TemplateError or ValueError (a bad mode,
    a script line that is not shell words, a run, script, src or dest that renders to
    nothing), naming the field. An optional field that renders to nothing (cwd,
    creates, removes, mode, owner, group) is not given."""

    def text(field: str, source: str) -> str:
        try:
            return template.render(source, context)
        except template.TemplateError as exc:
            raise template.TemplateError(f"{field}: {exc}") from None

    def required(field: str, source: str) -> str:
        # Blank, what it names would not be an error: an empty run succeeds, an empty
        # src uploads the playbook's directory, an empty dest is the home directory.
        rendered = text(field, source)
        if not rendered.strip():
            raise ValueError(f"{field}: {source!r} renders to nothing")
        return rendered

    def optional(field: str, source: str | None) -> str | None:
        # Blank is not given (``"{{ x | default('') }}"``; there is no ``omit``), as
        # Ansible's modules read an empty chdir, creates or owner.
        rendered = None if source is None else text(field, source)
        return rendered if rendered and rendered.strip() else None

    env = tuple((k, text(f"env: {k}", v)) for k, v in task.env)
    cwd = optional("cwd", task.cwd)
    creates = optional("creates", task.creates)
    removes = optional("removes", task.removes)
    action = task.action
    if isinstance(action, CommandAction):
        command = Command(
            compose_command(required("run", action.command), env, cwd),
            task.sudo,
            task.timeout,
            sudo_user=task.sudo_user,
            on_controller=task.delegate_to is not None,
            tty=task.tty,
        )
        return Rendered(command, None, creates, removes)
    if isinstance(action, ScriptAction):
        line = required("script", action.text)
        local = local_path(playbook, task, line)
        args = script_words(line)[1]
        name = f".hostops-{secrets.token_hex(8)}-{os.path.basename(local)}"
        upload = Upload(local, name, 0o700, False, task.timeout)  # the login user's
        script = ScriptRun(
            upload, args, env, cwd, task.sudo, task.timeout, task.sudo_user, task.tty
        )
        return Rendered(None, script, creates, removes)
    if isinstance(action, MetaAction):
        raise ValueError(f"meta: {action.what} is not rendered: the runner carries it out")
    src = required(f"{task.kind}: src", action.src)
    dest = required(f"{task.kind}: dest", action.dest)
    if isinstance(action, DownloadAction):
        # Relative to the current directory, as a command-line tool's paths are (the
        # playbook's directory may be a checkout, not where reports belong).
        local_dir = os.path.abspath(os.path.expanduser(dest))
        return Rendered(Download(remote_path(src), local_dir, task.timeout), None, creates, removes)
    assert isinstance(action, UploadAction)
    kind = task.kind
    mode = None
    if (given := optional(f"{kind}: mode", action.mode)) is not None:
        try:
            mode = parse_mode(given)
        except ValueError as exc:
            raise ValueError(f"{kind}: mode: {exc}") from None
    owner = optional(f"{kind}: owner", action.owner)
    group = optional(f"{kind}: group", action.group)
    local = local_path(playbook, task, src)
    upload = Upload(
        local,
        remote_path(dest),
        mode,
        task.sudo,  # None: the host's become, as Ansible's copy with become
        task.timeout,
        owner=owner,
        group=group,
        backup=action.backup,
    )
    content = template.render_file(local, context) if isinstance(action, TemplateAction) else None
    return Rendered(upload, None, creates, removes, content)


def compose_command(command: str, env: tuple[tuple[str, str], ...], cwd: str | None) -> str:
    """``command`` preceded by a change of directory and exports, each value one shell word.

    On separate lines, so that a failing ``cd`` stops everything
    (``cd X && a; b`` would still run ``b``).
    """
    lines = []
    if cwd:
        lines.append(f"cd -- {shell_path(cwd)} || exit")
    if env:
        lines.append("export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env))
    lines.append(command)
    return "\n".join(lines)


def probe_command(creates: str | None, removes: str | None) -> str:
    """A command that exits 0 printing PROBE_CREATES when ``creates`` exists, or
    PROBE_REMOVES when ``removes`` does not: the task is then skipped. Exit 1: run it."""
    lines = []
    if creates:
        lines.append(f"test -e {shell_path(creates)} && {{ echo {PROBE_CREATES}; exit 0; }}")
    if removes:
        lines.append(f"test -e {shell_path(removes)} || {{ echo {PROBE_REMOVES}; exit 0; }}")
    lines.append("exit 1")
    return "\n".join(lines)


def shell_path(path: str) -> str:
    """``path`` as one shell word, a leading ``~`` still meaning the home directory."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def remote_path(path: str) -> str:
    """An SFTP path: ``~/x`` is ``x`` (relative paths start in the login user's home)."""
    if path == "~":
        return "."
    return path[2:] if path.startswith("~/") else path


def describe(rendered: Rendered, host: str) -> str:
    """What the task rendered for ``host`` would do (check mode)."""
    op = rendered.operation
    if rendered.script is not None:
        script = rendered.script
        what = f"script: upload {script.upload.src} and run it"
        what += f" with {script.args}" if script.args else ""
        return what + _sudo_note(script.sudo, script.sudo_user)
    if isinstance(op, Command):
        where = " (on the controller)" if op.on_controller else ""
        return f"run: {op.command}{where}" + _sudo_note(op.sudo, op.sudo_user)
    if isinstance(op, Upload):
        notes = [f"mode {op.mode:04o}"] if op.mode is not None else []
        notes += [f"{k} {v}" for k, v in (("owner", op.owner), ("group", op.group)) if v]
        notes += ["backup"] if op.backup else []
        what = "template" if rendered.content is not None else "put"
        shown = f" ({', '.join(notes)})" if notes else ""
        return f"{what}: {op.src} -> {op.dest}{shown}" + _sudo_note(op.sudo, None)
    assert isinstance(op, Download)
    return f"get: {op.src} -> {download_path(op.dest, host, op.src)}"


def _sudo_note(sudo: bool | None, user: str | None) -> str:
    if not sudo:
        return ""
    return f" (sudo as {user})" if user else " (sudo)"
