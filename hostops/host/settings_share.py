"""Hosts that resolve alike, resolved once: what a reading of ssh_config gives every host
of a class, and the test that tells whether a reading may be shared at all.

Two hosts belong to one class when ssh_config is read for them with the same given
options, the same inventory fields that the settings are built from, and the same
outcome of every ``Host`` pattern (the caller's key,
:func:`hostops.host.settings.resolve_all`), in files where nothing else depends on the
name (:meth:`SshConfig.host_patterns`). Their readings then differ only in the name
itself: ``%n``/``%h`` tokens and the address when no ``HostName`` is set.
:func:`template` refuses a reading whose values hold a ``%`` token (their
expansion names the host), so what remains of the name is the address, computed for
each host as ssh does (:func:`canonical_address`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hostops.host.ssh_config import Given, SshOptions, canonical_address


@dataclass(frozen=True)
class Template:
    """The resolved settings every host of a class gets."""

    changes: Mapping[str, Any]  # Host fields, the address aside
    origins: Mapping[str, str]  # added over each host's own origins
    address: str | None  # None: each host's own name, canonical as ssh makes it
    ssh_repr: str  # repr of changes["ssh"], for the connection digest

    def fields_for(self, name: str, origins: Mapping[str, str]) -> dict[str, Any]:
        """The Host fields of the host looked up as ``name`` whose inventory origins are
        ``origins``: exactly what reading ssh_config for it would give."""
        changes = dict(self.changes)
        changes["address"] = self.address or canonical_address(name)
        changes["origins"] = {**origins, **self.origins}
        return changes


def template(
    found: SshOptions,
    given: Sequence[Given],
    changes: Mapping[str, Any],
    origins: Mapping[str, str],
) -> Template | None:
    """The class's settings from one host's reading (``found``, with ``given`` options),
    and the ``changes``/``origins`` built from it; None when the reading depends on the
    name in a way a template cannot repeat: a ``%`` token in a given option or a value
    expanded later, or a CanonicalizeHostname (a second pass with the final name)."""
    if "canonicalizehostname" in found.origins:
        return None
    if any("%" in g.value or any("%" in w for w in g.words or ()) for g in given):
        return None
    expanded = (
        *found.identity_files,
        *found.user_known_hosts,
        *found.certificate_files,
        found.identity_agent or "",
        found.proxy_command or "",
    )
    if any("%" in text for text in expanded):
        return None
    rest = {k: v for k, v in changes.items() if k not in ("address", "origins")}
    address = found.hostname if "hostname" in found.origins else None
    return Template(rest, dict(origins), address, repr(changes["ssh"]))
