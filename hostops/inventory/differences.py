"""Where hostops reads an Ansible inventory differently from Ansible, on purpose.

One table: the README shows it (a test checks that it shows every row) and the
differential tests against ansible-core accept a difference only when it is one
of these rows. Anything else that differs is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Difference:
    """One deliberate difference: what Ansible does, what hostops does, and why."""

    key: str
    ansible: str
    hostops: str


DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        "no-match",
        "A pattern term that matches no host or group is ignored with a warning;"
        " a pattern that selects no host runs nothing.",
        "Either is an error (exit 2, with a did-you-mean): a typo in `!db01` must not run on db01.",
    ),
    Difference(
        "node-range",
        "`web[1:3]`, `web[0]` are subscripts of what `web` matches; other `[...]` are"
        " glob character classes.",
        "`[...]` is a node range (`web[01-05,07]`), so a folded host set pastes back;"
        " a warning says when Ansible would select other hosts.",
    ),
    Difference(
        "comma-in-brackets",
        "A pattern with a `,` is split at every `,`.",
        "A `,` inside `[...]` (a node range) does not split.",
    ),
    Difference(
        "deep-group-order",
        "Hosts reached only through groups two or more levels below a group come in"
        " an order that depends on memory addresses (a set is walked).",
        "They come in the order the groups were defined.",
    ),
    Difference(
        "templates",
        "Jinja templates in connection variables (`ansible_host: '{{ x }}'`) are"
        " rendered when connecting.",
        "They are refused (exit 2, naming the file and line); templates in other"
        " variables are kept as text for playbooks.",
    ),
    Difference(
        "plain-secrets",
        "`ansible_password`, `ansible_become_password`, ... in plain text are used.",
        "They are ignored with a warning naming the variable; vaulted ones are used.",
    ),
    Difference(
        "connections",
        "Any connection plugin (`ansible_connection: docker`, `winrm`, ...).",
        "`ssh` (`smart`, `paramiko`) and `local` only; others are refused (exit 2).",
    ),
    Difference(
        "become-methods",
        "Any become plugin (`su`, `doas`, `pbrun`, ...).",
        "`sudo` only: a host whose method is another ends `error` naming it.",
    ),
    Difference(
        "ssh-args",
        "`ansible_ssh_common_args`/`_extra_args` are passed to ssh as they are;"
        " `ansible_ssh_args` replaces Ansible's ControlPersist options.",
        "`-o Key=Value`, `-J`, `-p`, `-i`, `-l` and `-4 -6 -A -a -C -q` are read as"
        " ssh options; anything else is refused (exit 2); `ansible_ssh_args` is ignored.",
    ),
    Difference(
        "unparsable-sources",
        "An inventory file no plugin can read is skipped with a warning (other"
        " sources still count); inventory plugins (`plugin: aws_ec2`), TOML are read.",
        "Any source that cannot be read is an error (exit 2); inventory plugins and"
        " TOML are refused.",
    ),
    Difference(
        "vault-prompt",
        "`--ask-vault-pass` and `--vault-id label@prompt` ask on the terminal.",
        "Vault passwords come from files or scripts only.",
    ),
)
"""Every deliberate difference, in the order the README lists them."""

KEYS = frozenset(d.key for d in DIFFERENCES)


def markdown_table() -> str:
    """The table as the README shows it."""
    rows = ["| | Ansible | hostops |", "|---|---|---|"]
    rows += [f"| `{d.key}` | {d.ansible} | {d.hostops} |" for d in DIFFERENCES]
    return "\n".join(rows) + "\n"
