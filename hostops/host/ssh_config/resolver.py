"""Reading ssh_config for one host in OpenSSH's order (readconf.c, ssh.c).

The given options (hostops's command line and inventory, as ``ssh -o``) come
first, then ~/.ssh/config, then /etc/ssh/ssh_config (or only the ``-F`` file);
the first value obtained for an option wins (IdentityFile and CertificateFile
accumulate). ``Host`` patterns see the name as given; ``Match host`` sees the
HostName-expanded one. ``Include`` is read in place, relative to ~/.ssh (user
files) or /etc/ssh (the system file), globs sorted; inside a ``Host``/``Match``
block that does not apply, the included files are read but never apply; after
it, the block's state is restored. ``Match final`` (and CanonicalizeHostname)
read every file a second time, with the final host name.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hostops.errors import ConfigError
from hostops.host.ssh_config.jump import Hop, parse_hop
from hostops.host.ssh_config.keywords import KEYWORDS, Keyword, Kind
from hostops.host.ssh_config.lexer import Line, strdelim
from hostops.host.ssh_config.options import (
    DEFAULT_GLOBAL_KNOWN_HOSTS,
    DEFAULT_IDENTITY_FILES,
    DEFAULT_USER_KNOWN_HOSTS,
    SshOptions,
)
from hostops.host.ssh_config.patterns import match_hostname, match_pattern, match_pattern_list
from hostops.host.ssh_config.tokens import (
    HOSTNAME_TOKENS,
    Local,
    TokenError,
    a2port,
    connection_hash,
    convtime,
    percent_expand,
    tilde_expand,
    valid_hostname,
    valid_user,
)

MAX_INCLUDE_DEPTH = 16
_MAX_FILES = 100  # OpenSSH's SSH_MAX_IDENTITY_FILES / SSH_MAX_CERTIFICATE_FILES

# Runs a Match exec command: (shell command, environment) -> exit status, or None
# when it did not exit normally.
ExecRunner = Callable[[str, Mapping[str, str]], "int | None"]


def run_in_shell(command: str, environ: Mapping[str, str]) -> int | None:
    """OpenSSH's ``execute_in_shell``: ``$SHELL -c COMMAND``, stdin and stdout on /dev/null,
    stderr shown."""
    shell = environ.get("SHELL") or "/bin/sh"
    if not os.access(shell, os.X_OK):
        raise TokenError(f'shell "{shell}" is not executable')
    done = subprocess.run(
        [shell, "-c", command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        env=dict(environ),
        check=False,
    )
    return done.returncode if done.returncode >= 0 else None


@dataclass(frozen=True)
class Given:
    """An option given outside ssh_config, as ``ssh -o "KEYWORD VALUE"``, and where it came
    from (``--user``, ``inv.yaml:12``). ``words``: the value already split (a path with
    spaces); None: ``value`` is split as ssh_config lines are."""

    keyword: str
    value: str
    origin: str
    words: tuple[str, ...] | None = None

    def line(self) -> Line:
        return Line(self.keyword.lower(), self.value, self.origin, 0, self.words)


@dataclass
class _Jump:
    hop: Hop | None  # None: "ProxyJump none"
    extra: str  # the hops before the last, as written
    where: str


@dataclass
class _Values:
    """The options obtained so far (first wins), with where each came from."""

    single: dict[str, tuple[str, str]] = field(default_factory=dict)
    identities: list[tuple[str, bool, str]] = field(default_factory=list)
    certificates: list[tuple[str, bool, str]] = field(default_factory=list)
    send_env: list[str] = field(default_factory=list)
    set_env: list[str] = field(default_factory=list)
    jump: _Jump | None = None

    def get(self, name: str) -> str | None:
        found = self.single.get(name)
        return found[0] if found else None

    def set(self, name: str, value: str, where: str) -> None:
        self.single.setdefault(name, (value, where))


class _Reader:
    """One reading of the files for one host (OpenSSH's process_config_files)."""

    def __init__(
        self,
        lines_of: Callable[[str, bool], list[Line] | None],
        glob_of: Callable[[str], list[str]],
        host_arg: str,
        local: Local,
        environ: Mapping[str, str],
        run_exec: ExecRunner,
    ) -> None:
        self._lines_of = lines_of
        self._glob_of = glob_of
        self.host_arg = host_arg
        self.local = local
        self.environ = environ
        self.run_exec = run_exec
        self.values = _Values()
        self.want_final = False
        self.final = False
        self.host = host_arg  # what Host patterns see: the final host name in the final pass

    # ------------------------------------------------------------------ files

    def read_file(self, path: str, user_conf: bool, check: bool) -> bool:
        """Read one top-level file (a fresh ``Host`` state). False when it does not exist."""
        return self._read(path, user_conf, check, [True], never=False, depth=0)

    def _read(
        self, path: str, user_conf: bool, check: bool, active: list[bool], never: bool, depth: int
    ) -> bool:
        if depth > MAX_INCLUDE_DEPTH:
            raise ConfigError(
                f"Include nested more than {MAX_INCLUDE_DEPTH} levels deep (a loop?)", path=path
            )
        lines = self._lines_of(path, check)
        if lines is None:
            return False
        for line in lines:
            self.process(line, active, user_conf, never, depth)
        return True

    # ------------------------------------------------------------------ one line

    def process(
        self, line: Line, active: list[bool] | None, user_conf: bool, never: bool, depth: int
    ) -> None:
        """One line; ``active`` None: a given option (always applies, no Host/Match/Include)."""
        keyword = KEYWORDS.get(line.keyword)
        if keyword is None:
            ignored = self.values.get("ignoreunknown")
            if ignored is not None and match_pattern_list(line.keyword, ignored, lower=True) == 1:
                return
            raise line.error(f"bad configuration option: {line.keyword}")
        words = line.args()
        on = True if active is None else active[0]
        kind = keyword.kind
        if kind in (Kind.HOST, Kind.MATCH, Kind.INCLUDE) and active is None:
            raise line.error(f"{line.keyword} is not allowed as an option")
        if kind is Kind.HOST:
            assert active is not None
            active[0] = self._host_line(line, words, never)
        elif kind is Kind.MATCH:
            assert active is not None
            matched = self._match_line(line)
            active[0] = matched and not never
        elif kind is Kind.INCLUDE:
            assert active is not None
            self._include(line, words, active, user_conf, never, depth)
        elif kind is Kind.COMMAND:
            self._command(line, keyword, on)
        elif kind is Kind.JUMP:
            self._jump(line, on)
        elif kind is Kind.CONSUMED:
            pass
        elif kind is Kind.IDENTITY or kind is Kind.CERTIFICATE:
            (path,) = self._exactly_one(line, words)
            store = self.values.identities if kind is Kind.IDENTITY else self.values.certificates
            if on:
                if len(store) >= _MAX_FILES:
                    raise line.error(f"too many {keyword.name} entries (max {_MAX_FILES})")
                if not any(p == path and u == user_conf for p, u, _ in store):
                    store.append((path, user_conf, line.where))
        elif kind is Kind.FILES:
            self._files(line, keyword, words, on)
        elif kind is Kind.SEND_ENV or kind is Kind.SET_ENV:
            self._environment(line, keyword, words, on)
        elif kind is Kind.WORDS:
            if not words:
                raise line.error("missing argument")
            if on:
                self.values.set(keyword.name, " ".join(words), line.where)
        else:
            (word,) = self._exactly_one(line, words)
            value = self._value(line, keyword, word)
            if on and value is not None:
                self.values.set(keyword.name, value, line.where)

    @staticmethod
    def _exactly_one(line: Line, words: list[str]) -> list[str]:
        if not words or words[0] == "":
            raise line.error("missing argument")
        if len(words) > 1:
            raise line.error(f"keyword {line.keyword} extra arguments at end of line")
        return words

    def _value(self, line: Line, keyword: Keyword, word: str) -> str | None:
        """The value to store for a one-word option (None: leaves it unset). Raises ConfigError."""
        kind = keyword.kind
        if kind is Kind.FLAG:
            assert keyword.choices is not None
            value = keyword.choices.get(word.lower())
            if value is None:
                raise line.error(f'unsupported option "{word}"')
            return value
        if kind is Kind.INT:
            if not word.isdigit() or int(word) > 2**31 - 1:
                raise line.error(f"integer value {word!r} is invalid")
            return str(int(word))
        if kind is Kind.TIME:
            if word == "none":
                return None  # as OpenSSH: "none" is "not set", a later line may set it
            try:
                return str(convtime(word))
            except ValueError:
                raise line.error("invalid time value") from None
        if kind is Kind.PORT:
            try:
                return str(a2port(word))
            except ValueError:
                raise line.error(f"bad port '{word}'") from None
        if kind is Kind.AGENT:
            self._check_agent(line, word)
        return word

    def _check_agent(self, line: Line, word: str) -> None:
        try:
            percent_expand(word.replace("%", "%%"), {}, "", self.environ)
        except TokenError:
            raise line.error(f"invalid environment expansion {word}") from None
        if word.startswith("$") and not word.startswith("${") and not _env_name(word[1:]):
            raise line.error(f"invalid environment name {word}")

    def _files(self, line: Line, keyword: Keyword, words: list[str], on: bool) -> None:
        for i, word in enumerate(words):
            if word == "":
                raise line.error(f"keyword {line.keyword} empty argument")
            if word.lower() == "none" and (i > 0 or len(words) > 1):
                raise line.error(f'keyword {line.keyword} "none" argument must appear alone')
        if on and words and keyword.name not in self.values.single:
            self.values.set(keyword.name, "\0".join(words), line.where)

    def _environment(self, line: Line, keyword: Keyword, words: list[str], on: bool) -> None:
        """SendEnv accumulates (``-NAME`` takes matching names out again); SetEnv keeps the
        first active line's NAME=VALUE words (a name once)."""
        values = self.values
        first_set_env = not values.set_env
        for word in words:
            if keyword.kind is Kind.SEND_ENV and (not word or "=" in word):
                raise line.error("invalid environment name")
            if keyword.kind is Kind.SET_ENV and "=" not in word:
                raise line.error("invalid SetEnv")
            if not on:
                continue
            if keyword.kind is Kind.SEND_ENV:
                if word.startswith("-"):
                    values.send_env = [p for p in values.send_env if not match_pattern(p, word[1:])]
                else:
                    values.send_env.append(word)
                values.set(keyword.name, "", line.where)
            elif first_set_env:
                names = {v.split("=", 1)[0] for v in values.set_env}
                if word.split("=", 1)[0] not in names:
                    values.set_env.append(word)
                values.set(keyword.name, "", line.where)

    def _command(self, line: Line, keyword: Keyword, on: bool) -> None:
        raw = line.raw_value()
        line.args()  # OpenSSH checks the quotes of every line
        # ProxyCommand is ignored once a ProxyJump is set (OpenSSH: "Skip below").
        if keyword.name == "proxycommand" and self.values.jump is not None:
            return
        if on:
            self.values.set(keyword.name, raw, line.where)

    def _jump(self, line: Line, on: bool) -> None:
        raw = line.raw_value()
        line.args()
        text = raw.split("#", 1)[0].rstrip()
        on = on and self.values.get("proxycommand") is None and self.values.jump is None
        hops: list[Hop] = []
        if raw.lower() != "none":
            try:
                hops = [parse_hop(part) for part in text.split(",")]
            except ValueError:
                raise line.error(f'invalid ProxyJump "{raw}"') from None
        if not on:
            return
        if raw.lower() == "none":
            self.values.jump = _Jump(None, "", line.where)
            return
        cut = raw.rfind(",")
        self.values.jump = _Jump(hops[-1], raw[:cut] if cut > 0 else "", line.where)
        self.values.set("proxycommand", "none", line.where)

    # ------------------------------------------------------------------ Host, Match, Include

    def _host_line(self, line: Line, words: list[str], never: bool) -> bool:
        matched = False
        for word in words:
            if word == "":
                raise line.error("keyword host empty argument")
            if never:
                break
            negated = word.startswith("!")
            if match_pattern(self.host, word[1:] if negated else word):
                if negated:
                    return False
                matched = True
        return matched

    def _match_host(self) -> str:
        hostname = self.values.get("hostname")
        if self.final:
            return hostname or self.host
        if hostname is not None:
            return self.expand_hostname(hostname)
        return self.host

    def expand_hostname(self, hostname: str) -> str:
        """HostName with ``%h`` (the name looked up) expanded. Raises ConfigError."""
        try:
            return percent_expand(hostname, {"h": self.host}, HOSTNAME_TOKENS)
        except TokenError as exc:
            where = self.values.single["hostname"][1]
            raise ConfigError(f"HostName: {exc}", path=where) from None

    def _match_line(self, line: Line) -> bool:
        """OpenSSH's match_cfg_line: every criterion must hold. Raises ConfigError."""
        port = int(self.values.get("port") or 22)
        ruser = self.values.get("user") or self.local.user
        host = self._match_host()
        rest: str | None = line.rest
        result = True
        attributes = 0
        while True:
            attrib, rest = strdelim(rest)
            if not attrib:
                break
            if attrib.startswith("#"):
                break
            negate = attrib.startswith("!")
            name = (attrib[1:] if negate else attrib).lower()
            if name == "all":
                arg, rest = strdelim(rest)
                if attributes > 1 or (arg and not arg.startswith("#")):
                    raise line.error(f"'{attrib}' cannot be combined with other Match attributes")
                return result and not negate
            attributes += 1
            if name in ("canonical", "final"):
                if name == "final":
                    self.want_final = True
                if self.final == negate:
                    result = False
                continue
            arg, rest = strdelim(rest)
            if not arg or arg.startswith("#"):
                raise line.error(f"missing Match criteria for {attrib}")
            if name == "host":
                hit = match_hostname(host, arg) == 1
            elif name == "originalhost":
                hit = match_hostname(self.host_arg, arg) == 1
            elif name == "user":
                hit = match_pattern_list(ruser, arg) == 1
            elif name == "localuser":
                hit = match_pattern_list(self.local.user, arg) == 1
            elif name == "exec":
                if not result:
                    continue  # OpenSSH skips the command once a criterion failed
                hit = self._exec(line, arg, host, port, ruser)
            else:
                raise line.error(f"unsupported Match attribute {attrib}")
            if hit == negate:
                result = False
        if attributes == 0:
            raise line.error("one or more attributes required for Match")
        return result

    def _exec(self, line: Line, arg: str, host: str, port: int, ruser: str) -> bool:
        local = self.local
        tokens = {
            "C": connection_hash(local.hostname, host, port, ruser),
            "L": local.short_hostname,
            "d": local.home,
            "h": host,
            "k": self.values.get("hostkeyalias") or host,
            "l": local.hostname,
            "n": self.host_arg,
            "p": str(port),
            "r": ruser,
            "u": local.user,
            "i": str(local.uid),
        }
        try:
            command = percent_expand(arg, tokens, "CLdhiklnpru")
            status = self.run_exec(command, self.environ)
        except (TokenError, OSError) as exc:
            raise line.error(f"Match exec: {exc}") from None
        if status is None:
            raise line.error(f"Match exec '{command[:100]}' error")
        return status == 0

    def _include(
        self,
        line: Line,
        words: list[str],
        active: list[bool],
        user_conf: bool,
        never: bool,
        depth: int,
    ) -> None:
        before = active[0]
        for word in words:
            if word == "":
                raise line.error("keyword include empty argument")
            if word.startswith("~") and not user_conf:
                raise line.error(f"bad include path {word}")
            anchored = word
            if not word.startswith(("/", "~")):
                anchored = ("~/.ssh/" if user_conf else "/etc/ssh/") + word
            pattern = tilde_expand(anchored, self.local.home)
            for path in self._glob_of(pattern):
                self._read(path, user_conf, True, active, never or not before, depth + 1)
                active[0] = before  # a Match in an included file does not leak out


def _env_name(name: str) -> bool:
    return (
        bool(name)
        and (name[0].isalpha() or name[0] == "_")
        and all(c.isalnum() or c == "_" for c in name)
    )


def read_for_host(
    lines_of: Callable[[str, bool], list[Line] | None],
    glob_of: Callable[[str], list[str]],
    files: Sequence[tuple[str, bool, bool]],
    host_arg: str,
    given: Sequence[Given],
    *,
    local: Local,
    environ: Mapping[str, str],
    run_exec: ExecRunner,
) -> SshOptions:
    """Every file for ``ssh host_arg`` with ``given`` options, as ssh.c's main reads them.

    ``files``: (path, user file, check permissions), in read order. Raises
    ConfigError for a name OpenSSH refuses, a bad line or a bad value.
    """
    if not valid_hostname(host_arg):
        raise ConfigError(f"host name {host_arg!r} contains invalid characters (as ssh refuses it)")
    reader = _Reader(lines_of, glob_of, host_arg, local, environ, run_exec)
    for one in given:
        line = one.line()
        if line.keyword == "user":
            user = line.args()
            if user and not valid_user(user[0]):
                raise line.error(f"user name {user[0]!r} contains invalid characters")
        reader.process(line, None, True, False, 0)
    for path, user_conf, check in files:
        reader.read_file(path, user_conf, check)
    values = reader.values
    host = host_arg
    hostname = values.get("hostname")
    if hostname is not None:
        host = reader.expand_hostname(hostname)
    host = canonical_address(host)
    canonicalize = values.get("canonicalizehostname") or "no"
    if reader.want_final or canonicalize != "no":
        reader.final = True
        reader.host = host
        values.single["hostname"] = (host, values.single.get("hostname", ("", "final pass"))[1])
        for path, user_conf, check in files:
            reader.read_file(path, user_conf, check)
    return _filled(reader, host)


# A name no numeric address can be written as (inet_aton's forms take digits, hex digits,
# 'x' and dots; IPv6 has ':'): letters beyond a-f but x, '-' or '_', nothing else.
_NEVER_NUMERIC = re.compile(r"[A-Za-z0-9._-]*[G-WYZg-wyz_-][A-Za-z0-9._-]*")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # no leading zero (octal)
_CANONICAL_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")
_NUMERIC_ONLY = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


def canonical_address(host: str) -> str:
    """As ssh: an address in its canonical form (``127.1`` is 127.0.0.1), a name lowercased."""
    if _NEVER_NUMERIC.fullmatch(host):  # getaddrinfo would refuse it: skip the call
        return host.lower()
    if _CANONICAL_IPV4.fullmatch(host):  # already as getnameinfo writes it
        return host
    return _canonical_by_resolver(host)


def _canonical_by_resolver(host: str) -> str:
    """:func:`canonical_address` as ssh computes it, through getaddrinfo and getnameinfo."""
    looks_numeric = "%" in host or ":" in host or host.strip("0123456789.") == ""
    try:
        found = socket.getaddrinfo(
            host,
            "22",
            type=socket.SOCK_STREAM,
            flags=_NUMERIC_ONLY,
        )
    except (socket.gaierror, UnicodeError):
        found = []
    if len(found) == 1:
        try:
            text, _ = socket.getnameinfo(found[0][4], socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)
        except OSError:
            return host
        return text if text.lower() != host.lower() else host
    return host if looks_numeric else host.lower()


def _filled(reader: _Reader, host: str) -> SshOptions:
    """The options with OpenSSH's defaults filled in (fill_default_options and ssh.c)."""
    values, local = reader.values, reader.local
    single = values.single

    def get(name: str, default: str | None = None) -> str | None:
        found = single.get(name)
        return found[0] if found else default

    def files(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        text = get(name)
        words = tuple(text.split("\0")) if text is not None else default
        return () if words and words[0].lower() == "none" else words

    identities = tuple(p for p, _, _ in values.identities)
    proxy = get("proxycommand")
    jump = values.jump
    jump_text = None
    if jump is not None and jump.hop is not None:
        jump_text = f"{jump.extra}," * bool(jump.extra) + jump.hop.as_ssh_prints_it()
    alias = get("hostkeyalias")
    origins = {name: where for name, (_, where) in single.items()}
    if values.identities:
        origins["identityfile"] = ", ".join(dict.fromkeys(w for _, _, w in values.identities))
    if values.certificates:
        origins["certificatefile"] = ", ".join(dict.fromkeys(w for _, _, w in values.certificates))
    if jump is not None:
        origins["proxyjump"] = jump.where
    options = SshOptions(
        host_arg=reader.host_arg,
        hostname=host,
        user=get("user") or local.user,
        port=int(get("port") or 22),
        identity_files=identities or DEFAULT_IDENTITY_FILES,
        identity_files_given=bool(identities),
        certificate_files=tuple(p for p, _, _ in values.certificates),
        identities_only=get("identitiesonly") == "yes",
        identity_agent=get("identityagent"),
        proxy_command=None if proxy is None or proxy.lower() == "none" else proxy,
        proxy_jump=jump_text,
        user_known_hosts=files("userknownhostsfile", DEFAULT_USER_KNOWN_HOSTS),
        global_known_hosts=files("globalknownhostsfile", DEFAULT_GLOBAL_KNOWN_HOSTS),
        strict_host_key_checking=get("stricthostkeychecking", "ask") or "ask",
        host_key_alias=alias.lower() if alias else None,
        connect_timeout=_int_or_none(get("connecttimeout")),
        server_alive_interval=int(get("serveraliveinterval") or 0),
        server_alive_count_max=int(get("serveralivecountmax") or 3),
        connection_attempts=int(get("connectionattempts") or 1),
        address_family=get("addressfamily", "any") or "any",
        bind_address=get("bindaddress"),
        send_env=tuple(values.send_env),
        set_env=tuple(values.set_env),
        hash_known_hosts=get("hashknownhosts") == "yes",
        local=local,
        others={
            name: value
            for name, (value, _) in single.items()
            if KEYWORDS[name].use.value in ("refused", "ignored")
        },
        origins=origins,
        environ=reader.environ,
    )
    return options


def _int_or_none(text: str | None) -> int | None:
    return None if text is None else int(text)
