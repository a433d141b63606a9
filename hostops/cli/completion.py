"""``hostops completion bash|zsh|fish``: the shell's completion script; and completing
itself, when that script calls ``hostops`` back with ``_HOSTOPS_COMPLETE`` set.

Click's shell completion, as typer sets it up, does the work (typer's scripts, click's
parsing of the words typed so far): commands, options, the choices of option values (views, policies) come from the
options' declarations, names (hosts, groups, runs) from hostops.cli.completers. The
configuration file's defaults apply as in a real run (its inventory is the one whose
names are offered); a broken file is ignored here -- Tab has nowhere to say why.

No ``from __future__ import annotations``: typer evaluates these annotations.
"""

import enum
import os
from typing import Annotated, Any

import typer

from hostops.cli.configured import load
from hostops.errors import HostopsError

COMPLETE_VAR = "_HOSTOPS_COMPLETE"  # click's name for it: _{PROG}_COMPLETE


class Shell(str, enum.Enum):
    """The shells click writes completion scripts for."""

    BASH = "bash"
    ZSH = "zsh"
    FISH = "fish"


def completion(
    ctx: typer.Context,
    shell: Annotated[
        Shell,
        typer.Argument(
            help="The shell to complete in.",
            show_default=False,
        ),
    ],
) -> None:
    """Print the shell completion script: eval "$(hostops completion bash)" in ~/.bashrc
    (README, "Completion")."""
    completer = _completer(shell.value, ctx.find_root().command, {})
    print(completer.source())


def complete(root: Any, instruction: str) -> int:
    """Answer the completion script's call (``instruction``: ``complete_bash``,
    ``complete_zsh``, ``complete_fish``; ``source_SHELL``: the script): the candidates for
    the words in the environment, on stdout. Exit code 1 for an instruction not known
    (fish's script also asks whether there are any: exit code 0 or 1, typer's answer)."""
    action, _sep, shell = instruction.partition("_")
    if shell not in {s.value for s in Shell} or action not in ("complete", "source"):
        return 1
    try:
        default_map = load(root, os.environ).default_map
    except HostopsError:
        default_map = {}
    completer = _completer(shell, root, {"default_map": default_map})
    print(completer.complete() if action == "complete" else completer.source())
    return 0


def _completer(shell: str, root: Any, context: dict[str, Any]) -> Any:
    """Typer's completion class for ``shell``: its scripts and its reading of the words
    typed (recent typer's own copy of click keeps none of click's)."""
    from typer import _completion_classes as classes

    kind: dict[str, Any] = {
        "bash": classes.BashComplete,
        "zsh": classes.ZshComplete,
        "fish": classes.FishComplete,
    }
    return kind[shell](root, context, "hostops", COMPLETE_VAR)
