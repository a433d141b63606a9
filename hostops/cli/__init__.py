"""The command line: options in, one library call, an exit code out. The only typer user.

Where things are: ``app`` (the typer application and its root options), ``options``
(every shared option, declared once, in groups), ``values`` (option text parsed),
``build`` (groups -> library values: the selected hosts, RunOptions, the view,
the secrets), ``hosts`` (what run, put, get and play share), one module per command
group (``run``: run/put/get, ``play``, ``inventory``, ``cluster``, ``records``:
history/show/report), and
``edge`` (errors -> one line and an exit code; ``main``).

Modules whose annotations typer reads have no ``from __future__ import annotations``:
typer would have to evaluate every option's annotation string at start-up
(``typing.get_type_hints``, ~40 ms per run).
"""

import gc

# As in hostops/__init__.py: no collection while the modules load (~0.1 s of CPU).
_collecting = gc.isenabled()
gc.disable()
try:
    from hostops.cli import cluster, completion, config, inventory, persist, play, records, run
    from hostops.cli.app import app
    from hostops.cli.edge import main
finally:
    if _collecting:
        gc.enable()

# The commands, in the order --help lists them.
for _command in (
    run.run,
    run.put,
    run.get,
    play.play,
    inventory.inventory,
    cluster.cluster,
    records.history,
    records.show,
    records.report,
    persist.persist,
):
    app.command()(_command)
# ``hostops config run -f 5``: the words after COMMAND are that command's, not config's.
app.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})(
    config.config
)
app.command()(completion.completion)

__all__ = ["app", "main"]
