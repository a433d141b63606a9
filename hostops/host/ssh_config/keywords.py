"""Every keyword OpenSSH's client knows (readconf.c of OpenSSH 9.2), how its value is
read, and what hostops does with it.

``Use`` is the contract with the user, documented in the README:

- HONOURED: hostops connects as OpenSSH would with it.
- REFUSED: it would change where, as whom or with what trust ssh connects, and
  hostops cannot do the same: a host for which it is set (to anything but its
  OpenSSH default) ends ``error``, naming the option and the line.
- IGNORED: it changes nothing hostops does, or only what an interactive ssh
  does (terminals, forwarding, multiplexing, logging): reported once per run.
- SILENT: OpenSSH itself ignores it (deprecated, unsupported) or it only steers
  the reading of the files (Host, Match, Include, IgnoreUnknown).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class Kind(enum.Enum):
    """How the arguments are read (and when a later line may still set the value)."""

    STRING = "string"  # one word; the first obtained wins
    FLAG = "flag"  # one of the ``choices``; the first obtained wins
    INT = "int"
    TIME = "time"  # seconds, "none" leaves it unset
    PORT = "port"
    WORDS = "words"  # one or more words, kept joined; the first obtained wins
    IDENTITY = "identity"  # IdentityFile: every active line adds one (duplicates dropped)
    CERTIFICATE = "certificate"  # CertificateFile: likewise
    FILES = "files"  # known hosts files: all words of the first active line
    COMMAND = "command"  # the raw rest of the line
    JUMP = "jump"  # ProxyJump
    AGENT = "agent"  # IdentityAgent: a path, $VAR or "none"
    HOST = "host"
    MATCH = "match"
    INCLUDE = "include"
    CONSUMED = "consumed"  # read and dropped, as OpenSSH drops it


class Use(enum.Enum):
    HONOURED = "honoured"
    REFUSED = "refused"
    IGNORED = "ignored"
    SILENT = "silent"


@dataclass(frozen=True)
class Keyword:
    name: str  # as ``ssh -G`` prints it (lowercase); aliases map to it
    kind: Kind
    use: Use
    choices: Mapping[str, str] | None = None  # accepted word -> canonical value (FLAG)
    default: str | None = None  # the value that changes nothing (REFUSED/IGNORED ones)


_FLAG = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}
_YES_NO_ASK = {**_FLAG, "ask": "ask"}
# As ``ssh -G`` prints StrictHostKeyChecking: the first name OpenSSH lists for each value.
STRICT = {
    "true": "true",
    "yes": "true",
    "false": "false",
    "no": "false",
    "off": "false",
    "ask": "ask",
    "accept-new": "accept-new",
}
_ADDRESS_FAMILY = {"inet": "inet", "inet6": "inet6", "any": "any"}
_CONTROL_MASTER = {**_FLAG, "auto": "auto", "ask": "ask", "autoask": "autoask"}
_TUNNEL = {**_FLAG, "ethernet": "ethernet", "point-to-point": "point-to-point"}
_REQUEST_TTY = {**_FLAG, "force": "force", "auto": "auto"}
_SESSION_TYPE = {"none": "none", "subsystem": "subsystem", "default": "default"}
_CANONICALIZE = {**_FLAG, "always": "always"}
_PUBKEY = {**_FLAG, "unbound": "unbound", "host-bound": "host-bound"}
_COMPRESSION = {"yes": "yes", "no": "no"}

HONOURED, REFUSED, IGNORED, SILENT = Use.HONOURED, Use.REFUSED, Use.IGNORED, Use.SILENT


def _k(
    name: str,
    kind: Kind,
    use: Use,
    choices: Mapping[str, str] | None = None,
    default: str | None = None,
) -> Keyword:
    return Keyword(name, kind, use, choices, default)


_TABLE: list[tuple[tuple[str, ...], Keyword]] = [
    # Read as OpenSSH reads them, and honoured.
    (("host",), _k("host", Kind.HOST, SILENT)),
    (("match",), _k("match", Kind.MATCH, SILENT)),
    (("include",), _k("include", Kind.INCLUDE, SILENT)),
    (("ignoreunknown",), _k("ignoreunknown", Kind.STRING, SILENT)),
    (("hostname",), _k("hostname", Kind.STRING, HONOURED)),
    (("user",), _k("user", Kind.STRING, HONOURED)),
    (("port",), _k("port", Kind.PORT, HONOURED)),
    (("identityfile", "identityfile2"), _k("identityfile", Kind.IDENTITY, HONOURED)),
    (("certificatefile",), _k("certificatefile", Kind.CERTIFICATE, HONOURED)),
    (("identitiesonly",), _k("identitiesonly", Kind.FLAG, HONOURED, _FLAG)),
    (("identityagent",), _k("identityagent", Kind.AGENT, HONOURED)),
    (("proxycommand",), _k("proxycommand", Kind.COMMAND, HONOURED)),
    (("proxyjump",), _k("proxyjump", Kind.JUMP, HONOURED)),
    (("userknownhostsfile",), _k("userknownhostsfile", Kind.FILES, HONOURED)),
    (("globalknownhostsfile",), _k("globalknownhostsfile", Kind.FILES, HONOURED)),
    (("stricthostkeychecking",), _k("stricthostkeychecking", Kind.FLAG, HONOURED, STRICT)),
    (("hostkeyalias",), _k("hostkeyalias", Kind.STRING, HONOURED)),
    (("connecttimeout",), _k("connecttimeout", Kind.TIME, HONOURED)),
    (("serveraliveinterval",), _k("serveraliveinterval", Kind.TIME, HONOURED)),
    (("serveralivecountmax",), _k("serveralivecountmax", Kind.INT, HONOURED)),
    (("connectionattempts",), _k("connectionattempts", Kind.INT, HONOURED)),
    (("addressfamily",), _k("addressfamily", Kind.FLAG, HONOURED, _ADDRESS_FAMILY)),
    (("bindaddress",), _k("bindaddress", Kind.STRING, HONOURED)),
    # Where, as whom or with what trust: refused unless at OpenSSH's default.
    (
        ("canonicalizehostname",),
        _k("canonicalizehostname", Kind.FLAG, REFUSED, _CANONICALIZE, "no"),
    ),
    (("knownhostscommand",), _k("knownhostscommand", Kind.COMMAND, REFUSED, default="none")),
    (("revokedhostkeys",), _k("revokedhostkeys", Kind.STRING, REFUSED, default="none")),
    (("proxyusefdpass",), _k("proxyusefdpass", Kind.FLAG, REFUSED, _FLAG, "no")),
    (("bindinterface",), _k("bindinterface", Kind.STRING, REFUSED)),
    (
        ("pkcs11provider", "smartcarddevice"),
        _k("pkcs11provider", Kind.STRING, REFUSED, default="none"),
    ),
    (("securitykeyprovider",), _k("securitykeyprovider", Kind.STRING, REFUSED, default="internal")),
    (("remotecommand",), _k("remotecommand", Kind.COMMAND, REFUSED, default="none")),
    (("checkhostip",), _k("checkhostip", Kind.FLAG, REFUSED, _FLAG, "no")),
    (("hostkeyalgorithms",), _k("hostkeyalgorithms", Kind.STRING, REFUSED)),
    (("casignaturealgorithms",), _k("casignaturealgorithms", Kind.STRING, REFUSED)),
    (("hostbasedauthentication",), _k("hostbasedauthentication", Kind.FLAG, REFUSED, _FLAG, "no")),
    # Changes nothing hostops does, or only what an interactive ssh does: ignored.
    (("forwardagent",), _k("forwardagent", Kind.STRING, IGNORED, default="no")),
    (("forwardx11",), _k("forwardx11", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("forwardx11trusted",), _k("forwardx11trusted", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("forwardx11timeout",), _k("forwardx11timeout", Kind.TIME, IGNORED)),
    (("exitonforwardfailure",), _k("exitonforwardfailure", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("xauthlocation",), _k("xauthlocation", Kind.STRING, IGNORED)),
    (("gatewayports",), _k("gatewayports", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("passwordauthentication",), _k("passwordauthentication", Kind.FLAG, IGNORED, _FLAG, "yes")),
    (
        (
            "kbdinteractiveauthentication",
            "challengeresponseauthentication",
            "skeyauthentication",
            "tisauthentication",
        ),
        _k("kbdinteractiveauthentication", Kind.FLAG, IGNORED, _FLAG, "yes"),
    ),
    (("kbdinteractivedevices",), _k("kbdinteractivedevices", Kind.STRING, IGNORED)),
    (
        ("pubkeyauthentication", "dsaauthentication"),
        _k("pubkeyauthentication", Kind.FLAG, IGNORED, _PUBKEY, "yes"),
    ),
    (("gssapiauthentication",), _k("gssapiauthentication", Kind.FLAG, IGNORED, _FLAG, "no")),
    (
        ("gssapidelegatecredentials",),
        _k("gssapidelegatecredentials", Kind.FLAG, IGNORED, _FLAG, "no"),
    ),
    (("addkeystoagent",), _k("addkeystoagent", Kind.WORDS, IGNORED, default="no")),
    (("ciphers",), _k("ciphers", Kind.STRING, IGNORED)),
    (("macs",), _k("macs", Kind.STRING, IGNORED)),
    (("kexalgorithms",), _k("kexalgorithms", Kind.STRING, IGNORED)),
    (
        ("pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes"),
        _k("pubkeyacceptedalgorithms", Kind.STRING, IGNORED),
    ),
    (
        ("hostbasedacceptedalgorithms", "hostbasedkeytypes"),
        _k("hostbasedacceptedalgorithms", Kind.STRING, IGNORED),
    ),
    (("remoteforward",), _k("remoteforward", Kind.WORDS, IGNORED)),
    (("localforward",), _k("localforward", Kind.WORDS, IGNORED)),
    (("dynamicforward",), _k("dynamicforward", Kind.WORDS, IGNORED)),
    (("permitremoteopen",), _k("permitremoteopen", Kind.WORDS, IGNORED)),
    (("clearallforwardings",), _k("clearallforwardings", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("escapechar",), _k("escapechar", Kind.STRING, IGNORED)),
    (("batchmode",), _k("batchmode", Kind.FLAG, IGNORED, _FLAG)),
    (("compression",), _k("compression", Kind.FLAG, IGNORED, _COMPRESSION, "no")),
    (("tcpkeepalive", "keepalive"), _k("tcpkeepalive", Kind.FLAG, IGNORED, _FLAG, "yes")),
    (("numberofpasswordprompts",), _k("numberofpasswordprompts", Kind.INT, IGNORED)),
    (("syslogfacility",), _k("syslogfacility", Kind.STRING, IGNORED)),
    (("loglevel",), _k("loglevel", Kind.STRING, IGNORED)),
    (("logverbose",), _k("logverbose", Kind.WORDS, IGNORED)),
    (("preferredauthentications",), _k("preferredauthentications", Kind.STRING, IGNORED)),
    (("enablesshkeysign",), _k("enablesshkeysign", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("verifyhostkeydns",), _k("verifyhostkeydns", Kind.FLAG, IGNORED, _YES_NO_ASK, "no")),
    (
        ("nohostauthenticationforlocalhost",),
        _k("nohostauthenticationforlocalhost", Kind.FLAG, IGNORED, _FLAG, "no"),
    ),
    (("rekeylimit",), _k("rekeylimit", Kind.WORDS, IGNORED)),
    (("sendenv",), _k("sendenv", Kind.WORDS, IGNORED)),
    (("setenv",), _k("setenv", Kind.WORDS, IGNORED)),
    (("controlpath",), _k("controlpath", Kind.STRING, IGNORED, default="none")),
    (("controlmaster",), _k("controlmaster", Kind.FLAG, IGNORED, _CONTROL_MASTER, "no")),
    (("controlpersist",), _k("controlpersist", Kind.STRING, IGNORED, default="no")),
    (("hashknownhosts",), _k("hashknownhosts", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("tunnel",), _k("tunnel", Kind.FLAG, IGNORED, _TUNNEL, "no")),
    (("tunneldevice",), _k("tunneldevice", Kind.STRING, IGNORED)),
    (("localcommand",), _k("localcommand", Kind.COMMAND, IGNORED, default="none")),
    (("permitlocalcommand",), _k("permitlocalcommand", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("visualhostkey",), _k("visualhostkey", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("ipqos",), _k("ipqos", Kind.WORDS, IGNORED)),
    (("requesttty",), _k("requesttty", Kind.FLAG, IGNORED, _REQUEST_TTY)),
    (("sessiontype",), _k("sessiontype", Kind.FLAG, IGNORED, _SESSION_TYPE, "default")),
    (("stdinnull",), _k("stdinnull", Kind.FLAG, IGNORED, _FLAG)),
    (("forkafterauthentication",), _k("forkafterauthentication", Kind.FLAG, IGNORED, _FLAG)),
    (("canonicaldomains",), _k("canonicaldomains", Kind.WORDS, IGNORED)),
    (("canonicalizefallbacklocal",), _k("canonicalizefallbacklocal", Kind.FLAG, IGNORED, _FLAG)),
    (("canonicalizemaxdots",), _k("canonicalizemaxdots", Kind.INT, IGNORED)),
    (("canonicalizepermittedcnames",), _k("canonicalizepermittedcnames", Kind.WORDS, IGNORED)),
    (("streamlocalbindmask",), _k("streamlocalbindmask", Kind.STRING, IGNORED)),
    (("streamlocalbindunlink",), _k("streamlocalbindunlink", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("fingerprinthash",), _k("fingerprinthash", Kind.STRING, IGNORED)),
    (("updatehostkeys",), _k("updatehostkeys", Kind.FLAG, IGNORED, _YES_NO_ASK)),
    (("requiredrsasize",), _k("requiredrsasize", Kind.INT, IGNORED)),
    (("enableescapecommandline",), _k("enableescapecommandline", Kind.FLAG, IGNORED, _FLAG, "no")),
    # Dropped by OpenSSH itself (with at most a debug or error message).
    (
        (
            "protocol",
            "cipher",
            "fallbacktorsh",
            "globalknownhostsfile2",
            "rhostsauthentication",
            "userknownhostsfile2",
            "useroaming",
            "usersh",
            "useprivilegedport",
            "afstokenpassing",
            "kerberosauthentication",
            "kerberostgtpassing",
            "rsaauthentication",
            "rhostsrsaauthentication",
            "compressionlevel",
        ),
        _k("deprecated", Kind.CONSUMED, SILENT),
    ),
]

KEYWORDS: dict[str, Keyword] = {alias: kw for aliases, kw in _TABLE for alias in aliases}


def by_use(use: Use) -> list[str]:
    """The keyword names (no aliases) hostops treats as ``use``: for the README and tests."""
    return sorted({kw.name for kw in KEYWORDS.values() if kw.use is use})
