"""Where a host's connection settings are resolved: the one function that turns an
inventory Host, ssh_config and the command line into everything a connection needs.

Precedence, highest first: the command line (:class:`Overrides`), the inventory (the
Host fields it set, then its ``-o`` ssh options, as ssh's own command line), then
ssh_config, then OpenSSH's defaults. ssh_config is read as ``ssh -o GIVEN… NAME``
reads it (:mod:`hostops.host.ssh_config`), with NAME the Host's ``config_name``
(else its name): so ``Match user`` sees the user the inventory gives, and a
ProxyJump the inventory gives wins over ssh_config's ProxyCommand.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hostops.bulk import collector_paused
from hostops.credentials import LOGIN_PASSWORD_VARS
from hostops.errors import ConfigError
from hostops.host.settings_share import Template, template
from hostops.host.ssh_config import (
    KEYWORDS,
    MISSING_METHODS,
    Given,
    Hop,
    Local,
    SshConfig,
    SshOptions,
    TokenError,
    Use,
    match_pattern,
    parse_chain,
    valid_hostname,
)
from hostops.localenv import child_environment
from hostops.models import Host, HostKeyPolicy, RunOptions, SshSettings, Transport
from hostops.vault import Vaulted

# StrictHostKeyChecking (as ssh -G prints it) -> hostops policy. "false" never turns
# checking off here (only --host-key-policy off does): it is accept-new, OpenSSH's middle
# ground; with UserKnownHostsFile /dev/null the connection refuses it instead.
_STRICT = {"true": "strict", "ask": "strict", "accept-new": "accept-new", "false": "accept-new"}
# ssh_config keyword -> the setting (Host or SshSettings field, the origins key) it gives,
# and the command-line flag that overrides it without going through ssh_config.
_SETTINGS: tuple[tuple[str, str, str | None], ...] = (
    ("user", "user", None),
    ("port", "port", None),
    ("hostname", "address", None),
    ("identityfile", "identity_file", "--identity"),
    ("userknownhostsfile", "known_hosts", None),
    ("proxyjump", "jump", None),
    ("stricthostkeychecking", "host_key_policy", None),
    ("proxycommand", "proxy_command", None),
    ("identitiesonly", "identities_only", None),
    ("identityagent", "identity_agent", None),
    ("certificatefile", "certificate_files", None),
    ("hostkeyalias", "host_key_alias", None),
    ("globalknownhostsfile", "global_known_hosts", None),
    ("connecttimeout", "connect_timeout", "--connect-timeout"),
    ("serveraliveinterval", "server_alive_interval", "--keepalive"),
    ("serveralivecountmax", "server_alive_count_max", "--keepalive"),
    ("connectionattempts", "connection_attempts", "--connect-retries"),
    ("addressfamily", "address_family", None),
    ("bindaddress", "bind_address", None),
    ("sendenv", "send_env", None),
    ("setenv", "set_env", None),
    ("hashknownhosts", "hash_known_hosts", None),
)


@dataclass(frozen=True)
class Overrides:
    """Settings given on the command line, for every host. None (or empty) means not
    given, so it never overrides anything."""

    user: str | None = None
    port: int | None = None
    identity_files: tuple[str, ...] = ()
    known_hosts: str | None = None
    jump: str | None = None  # a chain, or "none"
    connect_timeout: float | None = None
    server_alive: tuple[float, int] | None = None  # (interval, count); (0, 0): off
    connection_attempts: int | None = None


@dataclass
class _Run:
    """What every host of one resolution shares: read once, not once per host."""

    ssh_config: SshConfig
    flags: Overrides
    inventory_host: Callable[[str], Host | None]
    local: Local
    environ: dict[str, str]  # for ${VAR} and Match exec: without hostops's secrets
    hops: dict[tuple[str, str], Host] = field(default_factory=dict)  # jump host -> resolved
    # ssh_config's Host patterns when only they make one name read differently from
    # another (SshConfig.host_patterns); None: every host is read on its own.
    patterns: tuple[str, ...] | None = None
    # A class of hosts that resolve alike (the key in _resolve) -> its settings; None:
    # its reading cannot be shared (settings_share.template).
    shared: dict[tuple[object, ...], Template | None] = field(default_factory=dict)


def resolve_connection(
    host: Host,
    *,
    ssh_config: SshConfig | None,
    overrides: Overrides | None = None,
    inventory_host: Callable[[str], Host | None] = lambda name: None,
    secret_names: Iterable[str] = (),
    local: Local | None = None,
) -> Host:
    """``host`` (as the inventory gave it; ``origins`` says which fields it set) with every
    connection setting resolved, ``origins`` filled in for each, the jump chain resolved
    hop by hop (``inventory_host`` finds a hop's own inventory entry), and ``connection_id``.

    ``ssh_config`` None reads no file (OpenSSH's defaults still apply).
    ``secret_names``: variables kept from Match exec commands besides hostops's own.
    Raises ConfigError (one line, naming the host or FILE:LINE) for a name or address
    OpenSSH would refuse, a broken ssh_config, or a jump chain that does not parse.
    """
    run = _new_run(ssh_config, overrides, inventory_host, secret_names, local, share=False)
    return _resolve(host, run)


def resolve_all(
    hosts: Iterable[Host],
    *,
    ssh_config: SshConfig | None,
    overrides: Overrides | None = None,
    inventory_host: Callable[[str], Host | None] = lambda name: None,
) -> list[Host]:
    """:func:`resolve_connection` for each of ``hosts``, in order; ``Match exec`` commands
    never see the hosts' ``password_env`` variables; a jump host shared by many hosts is
    resolved once. Raises ConfigError."""
    hosts = list(hosts)
    secret_names = {h.password_env for h in hosts if h.password_env}
    run = _new_run(ssh_config, overrides, inventory_host, secret_names, None, share=True)
    with collector_paused():
        return [_resolve(h, run) for h in hosts]


def _new_run(
    ssh_config: SshConfig | None,
    overrides: Overrides | None,
    inventory_host: Callable[[str], Host | None],
    secret_names: Iterable[str],
    local: Local | None,
    *,
    share: bool,
) -> _Run:
    """What the hosts of one resolution share; ``share``: hosts that read ssh_config alike
    share one reading (one host alone has nothing to share)."""
    config = ssh_config or SshConfig.empty()
    local = local or Local.current()
    run = _Run(
        config, overrides or Overrides(), inventory_host, local, child_environment(secret_names)
    )
    run.patterns = config.host_patterns(local) if share else None
    return run


def _resolve(host: Host, run: _Run) -> Host:
    flags = run.flags
    if host.connection is Transport.LOCAL:  # no SSH: only what the command line says
        local_host = dataclasses.replace(
            host,
            user=host.user if flags.user is None else flags.user,
            port=host.port if flags.port is None else flags.port,
            identity_files=_expanded(flags.identity_files) or host.identity_files,
            known_hosts=host.known_hosts
            if flags.known_hosts is None
            else os.path.expanduser(flags.known_hosts),
        )
        return dataclasses.replace(local_host, connection_id=_digest(local_host))
    name = _checked_name(host)
    given = _command_line(flags, host) + _inventory(host, name)
    if run.patterns is None:  # ssh_config depends on the name beyond Host patterns
        return _finish(host, _read(host, name, given, run, flags)[1], run)
    # Everything the reading and _fields depend on but the name itself (see settings_share).
    key = (
        tuple(given),
        host.user,
        host.identity_files,
        "identity_file" in host.origins,
        tuple(match_pattern(name, pattern) for pattern in run.patterns),
    )
    if key not in run.shared:
        found, fields, updates = _read(host, name, given, run, flags)
        run.shared[key] = template(found, given, fields, updates)
        return _finish(host, fields, run)
    shared = run.shared[key]
    if shared is None:
        return _finish(host, _read(host, name, given, run, flags)[1], run)
    return _finish(host, shared.fields_for(name, host.origins), run, shared.ssh_repr)


def _finish(host: Host, fields: dict[str, Any], run: _Run, ssh_repr: str | None = None) -> Host:
    """``host`` with its resolved ``fields``, its jump chain and its connection_id, built once."""
    if fields["jump"]:
        fields["jump_hosts"] = _jump_hosts(dataclasses.replace(host, **fields), run)
    ssh: SshSettings = fields["ssh"]
    fields["connection_id"] = _digest_of(
        fields["address"],
        fields["port"],
        fields["user"],
        fields["identity_files"],
        fields["known_hosts"],
        host.connection,
        fields.get("jump_hosts", host.jump_hosts),
        host.password_env,
        fields["host_key_policy"],
        repr(ssh) if ssh_repr is None else ssh_repr,
    )
    return replaced(host, fields)


def replaced(host: Host, fields: Mapping[str, Any]) -> Host:
    """``dataclasses.replace(host, **fields)`` in a fifth of the time (it goes through
    ``__init__`` and every field: 5 us, half a second for 100,000 hosts). Host is a plain
    frozen dataclass of values (no ``__post_init__``, no slots): a copy of its attributes
    with ``fields`` over them is the same object ``replace`` builds."""
    new = object.__new__(Host)
    new.__dict__.update(host.__dict__)
    new.__dict__.update(fields)
    return new


def _checked_name(host: Host) -> str:
    """The name ssh_config is read for. Raises ConfigError when it or the address is one
    OpenSSH refuses."""
    name = host.config_name or host.name
    for what, value in (("name", name), ("address", host.address)):
        if not valid_hostname(value):
            raise ConfigError(
                f"host {host.name!r}: {what} {value!r} contains characters OpenSSH refuses"
                " in a host name (quotes, $, `, ;, &, |, <, >, (), {}, commas, spaces)"
            )
    return name


def _read(
    host: Host, name: str, given: list[Given], run: _Run, flags: Overrides
) -> tuple[SshOptions, dict[str, Any], dict[str, str]]:
    """ssh_config read for ``name`` with ``given`` options, and the Host fields and
    origins (:func:`_fields`) it gives. Raises ConfigError naming the host."""
    try:
        found = run.ssh_config.resolve(name, given, local=run.local, environ=run.environ)
        return (found, *_fields(host, found, flags))
    except TokenError as exc:
        raise ConfigError(f"host {host.name!r}: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{exc} (resolving host {host.name!r})") from None


def _resolve_one(host: Host, run: _Run, flags: Overrides, chain_given: list[Given]) -> Host:
    name = _checked_name(host)
    given = chain_given + _command_line(flags, host) + _inventory(host, name)
    return dataclasses.replace(host, **_read(host, name, given, run, flags)[1])


def _chain(spec: str, host: Host, origin: str) -> str:
    """A jump chain of hostops's (``-J``, the inventory's ``jump``) as OpenSSH writes it
    (bare IPv6 addresses bracketed). Raises ConfigError naming the host."""
    if spec.lower() == "none":
        return "none"
    try:
        return ",".join(str(hop) for hop in parse_chain(spec, lenient=True))
    except ValueError as exc:
        raise ConfigError(f"host {host.name!r}: jump {spec!r}: {exc}", path=None) from None


def _command_line(flags: Overrides, host: Host) -> list[Given]:
    given = []
    if flags.user is not None:
        given.append(Given("User", flags.user, "--user", (flags.user,)))
    if flags.port is not None:
        given.append(Given("Port", str(flags.port), "--port", (str(flags.port),)))
    if flags.known_hosts is not None:
        given.append(
            Given("UserKnownHostsFile", flags.known_hosts, "--known-hosts", (flags.known_hosts,))
        )
    if flags.jump is not None:
        given.append(Given("ProxyJump", _chain(flags.jump, host, "--jump"), "--jump"))
    return given


def _inventory(host: Host, name: str) -> list[Given]:
    """The inventory's settings as ssh options: the fields it set, then its ssh options."""
    set_here = host.origins
    given = []
    for setting, keyword, value in (
        ("user", "User", host.user),
        ("port", "Port", str(host.port)),
        ("address", "HostName", host.address),
        ("known_hosts", "UserKnownHostsFile", host.known_hosts),
        ("jump", "ProxyJump", host.jump),
    ):
        if (
            setting in set_here
            and value is not None
            and not (setting == "address" and value == name)
        ):
            if setting == "jump":
                given.append(
                    Given(keyword, _chain(value, host, set_here[setting]), set_here[setting])
                )
            else:
                given.append(Given(keyword, value, set_here[setting], (value,)))
    where = set_here.get("ssh_options", "the inventory's ssh options")
    given += [Given(key, value, where) for key, value in host.ssh_options]
    return given


def _fields(
    host: Host, found: SshOptions, flags: Overrides
) -> tuple[dict[str, Any], dict[str, str]]:
    """The Host fields ssh_config and the given options resolve ``host`` to (its origins
    included), and the origins they add over the host's own."""
    if flags.identity_files:
        identity_files = _expanded(flags.identity_files)
    elif "identity_file" in host.origins:
        identity_files = host.identity_files
    else:
        identity_files = found.expanded_identity_files() if found.identity_files_given else ()
    where = found.origins  # the given options' own origins (--user, inv.yaml:3) included
    known_hosts = found.expanded_user_known_hosts()
    strict = found.strict_host_key_checking if "stricthostkeychecking" in where else None
    alive = flags.server_alive or (None, None)
    ssh = SshSettings(
        proxy_command=found.expanded_proxy_command() if found.proxy_jump is None else None,
        identities_only=found.identities_only,
        identity_agent=found.expanded_identity_agent(),
        certificate_files=found.expanded_certificate_files(),
        host_key_alias=found.host_key_alias,
        known_hosts_files=known_hosts,
        global_known_hosts=_expanded(found.global_known_hosts),
        strict_host_key_checking=strict,
        connect_timeout=_first(flags.connect_timeout, found, "connecttimeout"),
        server_alive_interval=_first(alive[0], found, "serveraliveinterval"),
        server_alive_count_max=_first(alive[1], found, "serveralivecountmax"),
        connection_attempts=_first(flags.connection_attempts, found, "connectionattempts"),
        address_family=found.address_family,
        bind_address=found.bind_address,
        send_env=found.send_env,
        set_env=found.set_env,
        hash_known_hosts=found.hash_known_hosts,
        refused=_listed(found, Use.REFUSED),
        ignored=_listed(found, Use.IGNORED),
    )
    updates = {}
    for keyword, setting, flag in _SETTINGS:
        if flag is not None and getattr(flags, _FLAG_FIELDS[flag]) not in (None, ()):
            updates[setting] = flag
        elif keyword in where and not (setting == "identity_file" and setting in host.origins):
            updates[setting] = where[keyword]
    fields = {
        "address": found.hostname,
        "port": found.port,
        "user": found.user if "user" in where else host.user,
        "identity_files": identity_files,
        "known_hosts": known_hosts[0] if "userknownhostsfile" in where and known_hosts else None,
        "jump": ",".join(map(str, parse_chain(found.proxy_jump))) if found.proxy_jump else None,
        "host_key_policy": HostKeyPolicy(_STRICT[strict]) if strict else None,
        "ssh": ssh,
        "origins": {**host.origins, **updates},
    }
    return fields, updates


_FLAG_FIELDS = {
    "--identity": "identity_files",
    "--connect-timeout": "connect_timeout",
    "--keepalive": "server_alive",
    "--connect-retries": "connection_attempts",
}


def _expanded(paths: Iterable[str]) -> tuple[str, ...]:
    return tuple(os.path.expanduser(p) for p in paths)


def _first(flag: Any, found: SshOptions, keyword: str) -> Any:
    """The command line's value, else ssh_config's when it set one, else None."""
    if flag is not None:
        return flag
    return getattr(found, _KEYWORD_FIELDS[keyword]) if keyword in found.origins else None


_KEYWORD_FIELDS = {
    "connecttimeout": "connect_timeout",
    "serveraliveinterval": "server_alive_interval",
    "serveralivecountmax": "server_alive_count_max",
    "connectionattempts": "connection_attempts",
}


def _listed(found: SshOptions, use: Use) -> tuple[str, ...]:
    """``Keyword (FILE:LINE)`` for every option of that use set to other than its default."""
    out = []
    for name, value in sorted(found.others.items()):
        keyword = KEYWORDS[name]
        if keyword.use is use and value.lower() != (keyword.default or "").lower():
            out.append(f"{keyword.spelled} ({found.origins.get(name, '?')})")
    return tuple(out)


def _jump_hosts(host: Host, run: _Run) -> tuple[Host, ...]:
    """``host.jump`` resolved hop by hop, as ProxyJump is.

    A hop's settings come from ssh_config for its name, then from the inventory
    host of that name if there is one, then from the ``user@`` and ``:port``
    written in the chain. ``--identity`` and ``--known-hosts`` apply to hops too
    (``--user`` and ``--port`` do not); a hop without keys or known_hosts of its
    own uses the target's. A hop's own jump is not followed, and a host is never
    its own jump host: the chain stops before it.
    """
    assert host.jump is not None
    try:
        hops = parse_chain(host.jump, lenient=True)
    except ValueError as exc:
        raise ConfigError(f"host {host.name!r}: jump {host.jump!r}: {exc}") from None
    chain: list[Host] = []
    for hop in hops:
        one = _hop(hop, run)
        if hop.host == host.name or (one.address, one.port) == (host.address, host.port):
            break
        if not one.identity_files:
            one = dataclasses.replace(one, identity_files=host.identity_files)
        if one.known_hosts is None:  # and so the target's known_hosts files
            one = dataclasses.replace(
                one,
                known_hosts=host.known_hosts,
                ssh=dataclasses.replace(one.ssh, known_hosts_files=host.ssh.known_hosts_files),
            )
        chain.append(dataclasses.replace(one, connection_id=_digest(one)))
    return tuple(chain)


def _hop(hop: Hop, run: _Run) -> Host:
    """One jump host on its own (the same for every target that goes through it)."""
    key = (str(hop), hop.host)
    if key not in run.hops:
        flags = run.flags
        hop_flags = Overrides(
            identity_files=flags.identity_files,
            known_hosts=flags.known_hosts,
            connect_timeout=flags.connect_timeout,
            server_alive=flags.server_alive,
        )
        base = run.inventory_host(hop.host) or Host(name=hop.host, address=hop.host)
        # Of its variables, only a vaulted login password (Secrets.password_for finds it).
        kept = {k: v for k, v in base.vars.items() if isinstance(v, Vaulted)}
        login = {k: kept[k] for k in LOGIN_PASSWORD_VARS if k in kept}
        base = dataclasses.replace(base, jump=None, jump_hosts=(), groups=(), vars=login)
        written = [
            Given(keyword, value, f"the jump chain {hop}", (value,))
            for keyword, value in (("User", hop.user), ("Port", hop.port and str(hop.port)))
            if value
        ]
        one = _resolve_one(base, run, hop_flags, written)
        run.hops[key] = dataclasses.replace(one, name=str(hop), jump=None, jump_hosts=())
    return run.hops[key]


def _digest(host: Host) -> str:
    """The connection identity: a SHA-256 over every resolved connection setting."""
    return _digest_of(
        host.address,
        host.port,
        host.user,
        host.identity_files,
        host.known_hosts,
        host.connection,
        host.jump_hosts,
        host.password_env,
        host.host_key_policy,
        repr(host.ssh),
    )


def _digest_of(
    address: str,
    port: int,
    user: str | None,
    identity_files: tuple[str, ...],
    known_hosts: str | None,
    connection: Transport,
    jump_hosts: tuple[Host, ...],
    password_env: str | None,
    policy: HostKeyPolicy | None,
    ssh_repr: str,
) -> str:
    """:func:`_digest` from the fields, ``ssh_repr`` the repr of the SshSettings (a
    frozen dataclass of builtins: stable), computed once for many hosts that share it."""
    fields = (
        address,
        port,
        user,
        identity_files,
        known_hosts,
        connection.value,
        tuple(h.connection_id or _digest(h) for h in jump_hosts),
        password_env,
        policy.value if policy else None,
    )
    return hashlib.sha256(f"{repr(fields)[:-1]}, {ssh_repr})".encode()).hexdigest()


def reuse_identity(host: Host, options: RunOptions, environ: Mapping[str, str]) -> str:
    """The identity under which a connection kept from an earlier run (``--persist``) may
    serve ``host`` in this one: the host's whole resolved settings (its connection_id)
    and what the run adds to how a connection is made and trusted -- the host key
    policy, the agent's use and socket (``environ``: the run's environment). Any one of
    them different: a new connection."""
    fields = (
        host.connection_id or _digest(host),
        options.host_key_policy.value if options.host_key_policy else None,
        options.use_agent,
        environ.get("SSH_AUTH_SOCK"),
        options.connect_timeout,
    )
    return hashlib.sha256(repr(fields).encode()).hexdigest()


def ignored_options(hosts: Iterable[Host]) -> list[str]:
    """Every ``Option (FILE:LINE)`` set for ``hosts`` (or their jump hosts) that hostops
    ignores, once each, in the order met: for the one warning of a run."""
    found: dict[str, None] = {}
    for host in hosts:
        for one in (host, *host.jump_hosts):
            found.update(dict.fromkeys(o for o in one.ssh.ignored if not _missing_method(o)))
    return list(found)


def _missing_method(option: str) -> bool:
    """An authentication method hostops lacks: said in that host's auth failure instead."""
    return option.split(" ", 1)[0].lower() in MISSING_METHODS
