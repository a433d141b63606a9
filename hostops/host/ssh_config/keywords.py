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
    SEND_ENV = "sendenv"  # every active line adds names (``-NAME`` removes)
    SET_ENV = "setenv"  # NAME=VALUE words of the first active line
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
    spelled: str  # as the manual writes it (``ControlMaster``)
    kind: Kind
    use: Use
    choices: Mapping[str, str] | None = None  # accepted word -> canonical value (FLAG)
    default: str | None = None  # the value that changes nothing (REFUSED/IGNORED ones)

    @property
    def name(self) -> str:
        """As ``ssh -G`` prints it (lowercase); every alias maps to it."""
        return self.spelled.lower()


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
    (("host",), _k("Host", Kind.HOST, SILENT)),
    (("match",), _k("Match", Kind.MATCH, SILENT)),
    (("include",), _k("Include", Kind.INCLUDE, SILENT)),
    (("ignoreunknown",), _k("IgnoreUnknown", Kind.STRING, SILENT)),
    (("hostname",), _k("HostName", Kind.STRING, HONOURED)),
    (("user",), _k("User", Kind.STRING, HONOURED)),
    (("port",), _k("Port", Kind.PORT, HONOURED)),
    (("identityfile", "identityfile2"), _k("IdentityFile", Kind.IDENTITY, HONOURED)),
    (("certificatefile",), _k("CertificateFile", Kind.CERTIFICATE, HONOURED)),
    (("identitiesonly",), _k("IdentitiesOnly", Kind.FLAG, HONOURED, _FLAG)),
    (("identityagent",), _k("IdentityAgent", Kind.AGENT, HONOURED)),
    (("proxycommand",), _k("ProxyCommand", Kind.COMMAND, HONOURED)),
    (("proxyjump",), _k("ProxyJump", Kind.JUMP, HONOURED)),
    (("userknownhostsfile",), _k("UserKnownHostsFile", Kind.FILES, HONOURED)),
    (("globalknownhostsfile",), _k("GlobalKnownHostsFile", Kind.FILES, HONOURED)),
    (("stricthostkeychecking",), _k("StrictHostKeyChecking", Kind.FLAG, HONOURED, STRICT)),
    (("hostkeyalias",), _k("HostKeyAlias", Kind.STRING, HONOURED)),
    (("connecttimeout",), _k("ConnectTimeout", Kind.TIME, HONOURED)),
    (("serveraliveinterval",), _k("ServerAliveInterval", Kind.TIME, HONOURED)),
    (("serveralivecountmax",), _k("ServerAliveCountMax", Kind.INT, HONOURED)),
    (("connectionattempts",), _k("ConnectionAttempts", Kind.INT, HONOURED)),
    (("addressfamily",), _k("AddressFamily", Kind.FLAG, HONOURED, _ADDRESS_FAMILY)),
    (("bindaddress",), _k("BindAddress", Kind.STRING, HONOURED)),
    # Where, as whom or with what trust: refused unless at OpenSSH's default.
    (
        ("canonicalizehostname",),
        _k("CanonicalizeHostname", Kind.FLAG, REFUSED, _CANONICALIZE, "no"),
    ),
    (("knownhostscommand",), _k("KnownHostsCommand", Kind.COMMAND, REFUSED, default="none")),
    (("revokedhostkeys",), _k("RevokedHostKeys", Kind.STRING, REFUSED, default="none")),
    (("proxyusefdpass",), _k("ProxyUseFdpass", Kind.FLAG, REFUSED, _FLAG, "no")),
    (("bindinterface",), _k("BindInterface", Kind.STRING, REFUSED)),
    (
        ("pkcs11provider", "smartcarddevice"),
        _k("PKCS11Provider", Kind.STRING, REFUSED, default="none"),
    ),
    (("securitykeyprovider",), _k("SecurityKeyProvider", Kind.STRING, REFUSED, default="internal")),
    (("remotecommand",), _k("RemoteCommand", Kind.COMMAND, REFUSED, default="none")),
    (("checkhostip",), _k("CheckHostIP", Kind.FLAG, REFUSED, _FLAG, "no")),
    (("hostkeyalgorithms",), _k("HostKeyAlgorithms", Kind.STRING, REFUSED)),
    (("casignaturealgorithms",), _k("CASignatureAlgorithms", Kind.STRING, REFUSED)),
    (("hostbasedauthentication",), _k("HostbasedAuthentication", Kind.FLAG, REFUSED, _FLAG, "no")),
    # Changes nothing hostops does, or only what an interactive ssh does: ignored.
    (("forwardagent",), _k("ForwardAgent", Kind.STRING, IGNORED, default="no")),
    (("forwardx11",), _k("ForwardX11", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("forwardx11trusted",), _k("ForwardX11Trusted", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("forwardx11timeout",), _k("ForwardX11Timeout", Kind.TIME, IGNORED)),
    (("exitonforwardfailure",), _k("ExitOnForwardFailure", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("xauthlocation",), _k("XAuthLocation", Kind.STRING, IGNORED)),
    (("gatewayports",), _k("GatewayPorts", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("passwordauthentication",), _k("PasswordAuthentication", Kind.FLAG, IGNORED, _FLAG, "yes")),
    (
        (
            "kbdinteractiveauthentication",
            "challengeresponseauthentication",
            "skeyauthentication",
            "tisauthentication",
        ),
        _k("KbdInteractiveAuthentication", Kind.FLAG, IGNORED, _FLAG, "yes"),
    ),
    (("kbdinteractivedevices",), _k("KbdInteractiveDevices", Kind.STRING, IGNORED)),
    (
        ("pubkeyauthentication", "dsaauthentication"),
        _k("PubkeyAuthentication", Kind.FLAG, IGNORED, _PUBKEY, "yes"),
    ),
    (("gssapiauthentication",), _k("GSSAPIAuthentication", Kind.FLAG, IGNORED, _FLAG, "no")),
    (
        ("gssapidelegatecredentials",),
        _k("GSSAPIDelegateCredentials", Kind.FLAG, IGNORED, _FLAG, "no"),
    ),
    (("addkeystoagent",), _k("AddKeysToAgent", Kind.WORDS, IGNORED, default="no")),
    (("ciphers",), _k("Ciphers", Kind.STRING, IGNORED)),
    (("macs",), _k("MACs", Kind.STRING, IGNORED)),
    (("kexalgorithms",), _k("KexAlgorithms", Kind.STRING, IGNORED)),
    (
        ("pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes"),
        _k("PubkeyAcceptedAlgorithms", Kind.STRING, IGNORED),
    ),
    (
        ("hostbasedacceptedalgorithms", "hostbasedkeytypes"),
        _k("HostbasedAcceptedAlgorithms", Kind.STRING, IGNORED),
    ),
    (("remoteforward",), _k("RemoteForward", Kind.WORDS, IGNORED)),
    (("localforward",), _k("LocalForward", Kind.WORDS, IGNORED)),
    (("dynamicforward",), _k("DynamicForward", Kind.WORDS, IGNORED)),
    (("permitremoteopen",), _k("PermitRemoteOpen", Kind.WORDS, IGNORED)),
    (("clearallforwardings",), _k("ClearAllForwardings", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("escapechar",), _k("EscapeChar", Kind.STRING, IGNORED)),
    (("batchmode",), _k("BatchMode", Kind.FLAG, IGNORED, _FLAG)),
    (("compression",), _k("Compression", Kind.FLAG, IGNORED, _COMPRESSION, "no")),
    (("tcpkeepalive", "keepalive"), _k("TCPKeepAlive", Kind.FLAG, IGNORED, _FLAG, "yes")),
    (("numberofpasswordprompts",), _k("NumberOfPasswordPrompts", Kind.INT, IGNORED)),
    (("syslogfacility",), _k("SyslogFacility", Kind.STRING, IGNORED)),
    (("loglevel",), _k("LogLevel", Kind.STRING, IGNORED)),
    (("logverbose",), _k("LogVerbose", Kind.WORDS, IGNORED)),
    (("preferredauthentications",), _k("PreferredAuthentications", Kind.STRING, IGNORED)),
    (("enablesshkeysign",), _k("EnableSSHKeysign", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("verifyhostkeydns",), _k("VerifyHostKeyDNS", Kind.FLAG, IGNORED, _YES_NO_ASK, "no")),
    (
        ("nohostauthenticationforlocalhost",),
        _k("NoHostAuthenticationForLocalhost", Kind.FLAG, IGNORED, _FLAG, "no"),
    ),
    (("rekeylimit",), _k("RekeyLimit", Kind.WORDS, IGNORED)),
    (("sendenv",), _k("SendEnv", Kind.SEND_ENV, HONOURED)),
    (("setenv",), _k("SetEnv", Kind.SET_ENV, HONOURED)),
    (("controlpath",), _k("ControlPath", Kind.STRING, IGNORED, default="none")),
    (("controlmaster",), _k("ControlMaster", Kind.FLAG, IGNORED, _CONTROL_MASTER, "no")),
    (("controlpersist",), _k("ControlPersist", Kind.STRING, IGNORED, default="no")),
    (("hashknownhosts",), _k("HashKnownHosts", Kind.FLAG, HONOURED, _FLAG, "no")),
    (("tunnel",), _k("Tunnel", Kind.FLAG, IGNORED, _TUNNEL, "no")),
    (("tunneldevice",), _k("TunnelDevice", Kind.STRING, IGNORED)),
    (("localcommand",), _k("LocalCommand", Kind.COMMAND, IGNORED, default="none")),
    (("permitlocalcommand",), _k("PermitLocalCommand", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("visualhostkey",), _k("VisualHostKey", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("ipqos",), _k("IPQoS", Kind.WORDS, IGNORED)),
    (("requesttty",), _k("RequestTTY", Kind.FLAG, IGNORED, _REQUEST_TTY)),
    (("sessiontype",), _k("SessionType", Kind.FLAG, IGNORED, _SESSION_TYPE, "default")),
    (("stdinnull",), _k("StdinNull", Kind.FLAG, IGNORED, _FLAG)),
    (("forkafterauthentication",), _k("ForkAfterAuthentication", Kind.FLAG, IGNORED, _FLAG)),
    (("canonicaldomains",), _k("CanonicalDomains", Kind.WORDS, IGNORED)),
    (("canonicalizefallbacklocal",), _k("CanonicalizeFallbackLocal", Kind.FLAG, IGNORED, _FLAG)),
    (("canonicalizemaxdots",), _k("CanonicalizeMaxDots", Kind.INT, IGNORED)),
    (("canonicalizepermittedcnames",), _k("CanonicalizePermittedCNAMEs", Kind.WORDS, IGNORED)),
    (("streamlocalbindmask",), _k("StreamLocalBindMask", Kind.STRING, IGNORED)),
    (("streamlocalbindunlink",), _k("StreamLocalBindUnlink", Kind.FLAG, IGNORED, _FLAG, "no")),
    (("fingerprinthash",), _k("FingerprintHash", Kind.STRING, IGNORED)),
    (("updatehostkeys",), _k("UpdateHostKeys", Kind.FLAG, IGNORED, _YES_NO_ASK)),
    (("requiredrsasize",), _k("RequiredRSASize", Kind.INT, IGNORED)),
    (("enableescapecommandline",), _k("EnableEscapeCommandline", Kind.FLAG, IGNORED, _FLAG, "no")),
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


# Authentication methods hostops does not have: the host's own failure mentions them
# (they matter only when they are what would log in), the run's warning does not.
MISSING_METHODS = frozenset({"gssapiauthentication", "gssapidelegatecredentials"})


def by_use(use: Use) -> list[str]:
    """The keyword names (no aliases) hostops treats as ``use``: for the README and tests."""
    return sorted(
        {kw.spelled for kw in KEYWORDS.values() if kw.use is use and kw.kind is not Kind.CONSUMED}
    )
