"""Run by the tests with ansible-core's Python: one start-up of Ansible answers for one
inventory both ``ansible-inventory -i SOURCES --list`` (its JSON, as that command
prints it) and, for many patterns, ``ansible PATTERN -i SOURCES --list-hosts``
(``InventoryManager.list_hosts``, which is what ``--list-hosts`` prints).

stdin: ``{"sources": [...], "patterns": [...]}``; stdout: ``{"list": {...},
"patterns": {pattern: [host, ...] or {"error": "..."}}}``.
"""

import contextlib
import io
import json
import sys

from ansible.cli.inventory import InventoryCLI
from ansible.errors import AnsibleError


def main() -> None:
    request = json.load(sys.stdin)
    args = ["ansible-inventory", *(a for s in request["sources"] for a in ("-i", s)), "--list"]
    cli = InventoryCLI(args)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.suppress(SystemExit):
        cli.run()  # prints the listing, then exits 0
    out = {"list": json.loads(printed.getvalue()), "patterns": {}}
    for pattern in request["patterns"]:
        try:
            out["patterns"][pattern] = [str(h) for h in cli.inventory.list_hosts(pattern)]
        except AnsibleError as exc:
            out["patterns"][pattern] = {"error": str(exc).splitlines()[0]}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
