"""``hostops run echo hello``: the command may be given as several words, as to ssh.
Checked before click parses anything, because click would otherwise take a command word
that looks like an option as one (``hostops run grep -l x f``: ``--limit x``)."""

from __future__ import annotations

from typing import Any

from hostops.errors import UsageError


def check_command_words(group: Any, args: list[str]) -> None:
    """For ``run``: the command's words must be together and none may start with ``-``
    before ``--`` (after it, everything is the command). ``group``: the click group of
    the application. Raises UsageError."""
    if not args or args[0] != "run":
        return
    takes_value: dict[str, bool] = {"-h": False, "--help": False}
    for param in group.commands["run"].params:
        if param.param_type_name == "option":
            for name in (*param.opts, *param.secondary_opts):
                takes_value[name] = not (param.is_flag or param.count)
    words = "none"  # none yet, "in" the command, or "after" it (an option came)
    rest = iter(args[1:])
    for arg in rest:
        if arg == "--":
            return
        if arg.startswith("-") and arg != "-":
            name = arg.split("=", 1)[0]
            if name not in takes_value:
                raise UsageError(
                    f"run: {arg!r} is not a hostops option: quote the command or put it after --"
                )
            if takes_value[name] and "=" not in arg:
                next(rest, None)
            words = "after" if words == "in" else words
        elif words == "after":
            raise UsageError(
                "run: the command's words are split by hostops options: quote the command"
                " or put it after --"
            )
        else:
            words = "in"
