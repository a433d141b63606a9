"""hostops's ssh_config resolver against OpenSSH itself, on the corpus in tests/data/ssh_config.

For every file and every host name it mentions: what ``ssh -G -F FILE HOST``
prints for the options hostops reads, and (second oracle) the IdentityFile,
CertificateFile and ProxyCommand values after OpenSSH expanded their tokens, as
``ssh -v`` shows them and as the shell is given them. A difference fails the
test unless the file names a row of the table of deliberate differences.
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from ssh_oracle import Oracle, oracle

from hostops.errors import ConfigError
from hostops.host.ssh_config import DIFFERENCES, Given, SshConfig

CORPUS = Path(__file__).parent.parent / "data" / "ssh_config"
FILES = sorted(p.name for p in CORPUS.glob("*.conf"))
COMPARED = (
    "user",
    "hostname",
    "port",
    "identityfile",
    "certificatefile",
    "proxyjump",
    "proxycommand",
    "userknownhostsfile",
    "globalknownhostsfile",
    "stricthostkeychecking",
    "identitiesonly",
    "connecttimeout",
    "serveraliveinterval",
    "serveralivecountmax",
    "connectionattempts",
    "addressfamily",
    "hostkeyalias",
    "identityagent",
    "bindaddress",
    "sendenv",
    "setenv",
    "hashknownhosts",
)


@pytest.fixture(scope="module")
def staged() -> Iterator[tuple[Oracle, Path]]:
    """The corpus copied where the oracle's user can read it, placeholders filled in."""
    with oracle() as o:
        target = o.scratch / "corpus"
        shutil.copytree(CORPUS, target)
        relative = f"{o.relative}/corpus"
        for path in target.rglob("*"):
            if path.is_file():
                text = path.read_text().replace("@CORPUS@", str(target)).replace("@REL@", relative)
                path.write_text(text)
                path.chmod(0o644)
        yield o, target


def mentioned_hosts(text: str) -> list[str]:
    """Host names a file mentions: plain Host and Match patterns, HostName values,
    ProxyJump hops and ``# test-hosts:`` lines."""
    names: list[str] = []
    for line in text.splitlines():
        words = (
            line.split("#", 1)[0].replace("=", " ").split()
            if not line.startswith("# test-hosts:")
            else []
        )
        if line.startswith("# test-hosts:"):
            names += line.split(":", 1)[1].split()
        elif words and words[0].lower().strip('"') in ("host", "hostname"):
            names += [w.strip('"').lstrip("!") for w in shlex.split(" ".join(words[1:]))]
        elif words and words[0].lower() == "match":
            for kind, arg in zip(words[1::2], words[2::2], strict=False):
                if kind.lstrip("!").lower() in ("host", "originalhost"):
                    names += [p.lstrip("!") for p in arg.strip('"').split(",")]
    plain = [n for n in names if n and not re.search(r"[*?%@]", n)]
    return list(dict.fromkeys(plain))


def options_of(text: str) -> list[str]:
    return [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("# test-option:")
    ]


def test_the_corpus_is_big_enough() -> None:
    assert len(FILES) >= 20
    hosts = sum(len(mentioned_hosts((CORPUS / f).read_text())) for f in FILES)
    assert hosts >= 100


@pytest.mark.parametrize("name", FILES)
def test_resolver_agrees_with_ssh(staged: tuple[Oracle, Path], name: str) -> None:
    o, corpus = staged
    path = corpus / name
    text = path.read_text()
    allowed = {
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("# deliberate-difference:")
    }
    assert allowed <= {d.id for d in DIFFERENCES}, "a deliberate difference not in the table"
    options = options_of(text)
    given = [Given(*o.split("=", 1), "-o") for o in options]
    config = SshConfig.from_file(path)
    differences = []
    for host in mentioned_hosts(text):
        status, theirs, _ = o.ssh_g(path, host, options)
        if status != 0:
            with pytest.raises(ConfigError):
                config.resolve(host, given, local=o.local(), environ=o.environ)
            continue
        mine = config.resolve(host, given, local=o.local(), environ=o.environ)
        ours = mine.ssh_g()
        for key in COMPARED:
            expected = "\n".join(theirs.get(key, [])) or None
            got = ours.get(key) or None
            if expected != got:
                differences.append(f"{host}: {key}: ssh {expected!r}, hostops {got!r}")
        # The second oracle: the values after OpenSSH expanded their tokens.
        add_proxy = "proxycommand" not in theirs and "proxyjump" not in theirs
        identities, certificates, proxy = o.used_paths(path, host, options, add_proxy)
        expanded = mine.expanded_identity_files()
        if not mine.certificate_files:
            expanded = tuple(p for one in expanded for p in (one, one + "-cert"))
        if list(expanded) != identities:
            differences.append(
                f"{host}: expanded identity files: ssh {identities}, hostops {list(expanded)}"
            )
        if list(mine.expanded_certificate_files()) != certificates:
            differences.append(
                f"{host}: expanded certificate files: ssh {certificates}, hostops {list(mine.expanded_certificate_files())}"
            )
        if not add_proxy and mine.proxy_jump is None and proxy != mine.expanded_proxy_command():
            differences.append(
                f"{host}: expanded ProxyCommand: ssh {proxy!r}, hostops {mine.expanded_proxy_command()!r}"
            )
    if not allowed:
        assert differences == []


BROKEN = {
    "an unknown keyword": "Host a\n  NoSuchThing yes\n",
    "unbalanced quotes": 'Host a\n  User "x\n',
    "a bad port": "Port 99999\n",
    "a service that does not exist": "Port no-such-service\n",
    "a missing argument": "User\n",
    "extra arguments": "User a b\n",
    "an unsupported Match criterion": "Match tagged x\n  User y\n",
    "Match all combined": "Match all host x\n  User y\n",
    "a bad flag": "IdentitiesOnly maybe\n",
    "a bad time": "ConnectTimeout 5x\n",
    "a bad ProxyJump": "ProxyJump a:b:c\n",
    "none among known hosts files": "UserKnownHostsFile a none\n",
    "an unknown token in HostName": "HostName %z.example\n",
    "a bad line in an inactive block": "Host nothing-matches\n  Port abc\n",
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_file_ssh_refuses_is_refused(staged: tuple[Oracle, Path], case: str) -> None:
    o, _ = staged
    path = o.scratch / "broken.conf"
    path.write_text(BROKEN[case])
    status, _, _ = o.ssh_g(path, "a")
    assert status != 0
    with pytest.raises(ConfigError):
        SshConfig.from_file(path).resolve("a", local=o.local(), environ=o.environ)
