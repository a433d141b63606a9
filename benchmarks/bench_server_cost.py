"""What one connection costs the SERVER (sshd CPU), by negotiated algorithm and by what
the client runs: which choices of hostops's client make sshd work harder.

    python benchmarks/bench_server_cost.py [--daemons 5] [--connections 120] [--rounds 3] [--commands 200]
        [--user NAME]

Each variant makes ``--connections`` connections (round-robin over the daemons): TCP,
key exchange, host key check, public key login, one ``exec`` and its exit status,
close. sshd CPU is the listener processes' own and reaped children's CPU
(utime+stime+cutime+cstime from /proc) before and after, divided by the
connections; rounds are interleaved over the variants and the median is reported.
Then ``--commands`` commands on one kept connection, as hostops sends them (its process
group reported first, by the login shell's own echo), wrapped as it wraps them where it
must, and plain, isolate what each costs from the connection's.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import paramiko
from procstat import cpu_s, tree

from hostops.host.ssh.command import _reported
from hostops.host.ssh.shell import login_command
from hostops.testing import SshdFleet


@dataclass(frozen=True)
class Variant:
    name: str
    kex: str | None = None  # the one key exchange offered; None: paramiko's order
    host_key: str = "ssh-ed25519"
    user_key: str = "ed25519"
    cipher: str = "aes128-gcm@openssh.com"
    command: str = "true"


NONCE = "0011aabb"
# What SshCommand sends for `true` (hostops/host/ssh/command.py). On OpenSSH: the login
# shell echoes its own pid (the group sshd made it lead), then runs the command itself
# (fish starts a /bin/sh for the report; root's bash here does not). Where it needs its
# wrapper (sudo, a tty, other servers): the login shell execs /bin/sh for the prelude
# (process-group check and report), which execs the login shell again for the command.
REPORTED = _reported("true", NONCE)
# What stop 15 sent: a /bin/sh the login shell starts reports the shell's pid.
SH_REPORTED = f"/bin/sh -c 'echo \"\036hostops-pgid:{NONCE}:$PPID\" >&2'\ntrue"
WRAPPER = login_command(
    f'echo "\036hostops-pgid:{NONCE}:$$" >&2; exec "${{SHELL:-/bin/sh}}" -c "$1"',
    "true",
    own_group=True,
)
COMMANDS = {
    "reported (what hostops sends to OpenSSH)": REPORTED,
    "reported by a /bin/sh (stop 15's form)": SH_REPORTED,
    "wrapped": WRAPPER,
    "plain": "true",
}

VARIANTS = [
    Variant(
        "hostops (mlkem offered, curve25519 agreed; ed25519; gcm; group reported)",
        command=REPORTED,
    ),
    Variant("  same, wrapped (sudo, a tty, servers other than OpenSSH)", command=WRAPPER),
    Variant("  same, plain 'true' (nothing reported)"),
    Variant("  kex curve25519-sha256 only", kex="curve25519-sha256@libssh.org"),
    Variant("  kex ecdh-sha2-nistp256", kex="ecdh-sha2-nistp256"),
    Variant("  kex diffie-hellman-group14-sha256", kex="diffie-hellman-group14-sha256"),
    Variant("  host key ecdsa-sha2-nistp256", host_key="ecdsa-sha2-nistp256"),
    Variant("  host key rsa-sha2-512 (3072 bits)", host_key="rsa-sha2-512"),
    Variant("  user key ecdsa", user_key="ecdsa"),
    Variant("  user key rsa (3072 bits)", user_key="rsa"),
    Variant("  cipher aes128-ctr + hmac-sha2-256", cipher="aes128-ctr"),
]


def connect_once(address: str, port: int, variant: Variant, key: paramiko.PKey, user: str) -> None:
    sock = socket.create_connection((address, port))
    t = paramiko.Transport(sock)
    opts = t.get_security_options()
    if variant.kex:
        opts.kex = [variant.kex]
    opts.key_types = [variant.host_key]
    opts.ciphers = [variant.cipher]
    try:
        t.start_client(timeout=20)
        t.auth_publickey(user, key)
        chan = t.open_session()
        chan.exec_command(variant.command)
        chan.recv_exit_status()
        chan.close()
    finally:
        t.close()
        sock.close()


def measure(fleet: SshdFleet, variant: Variant, keys: dict[str, paramiko.PKey], n: int) -> float:
    pids = [h.pid for h in fleet.hosts]
    before = cpu_s(pids)
    for i in range(n):
        h = fleet.hosts[i % len(fleet.hosts)]
        connect_once(h.address, h.port, variant, keys[variant.user_key], fleet.user)
    return 1000 * (cpu_s(pids) - before) / n


def per_command(fleet: SshdFleet, key: paramiko.PKey, n: int, rounds: int) -> dict[str, float]:
    """sshd CPU per command on one kept connection (ms, median of ``rounds`` interleaved
    rounds of ``n``), as hostops sends it, wrapped and plain: what the report and the
    wrapper cost, without the connection's
    (the connection's sshd processes are alive: their tree is read, not the listener's)."""
    h = fleet.hosts[0]
    t = paramiko.Transport(socket.create_connection((h.address, h.port)))
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    try:
        t.start_client(timeout=20)
        t.auth_publickey(fleet.user, key)
        for _ in range(rounds):
            for name, command in COMMANDS.items():
                before = cpu_s(tree([h.pid]))
                for _ in range(n):
                    chan = t.open_session()
                    chan.exec_command(command)
                    chan.recv_exit_status()
                    chan.close()
                samples[name].append(1000 * (cpu_s(tree([h.pid])) - before) / n)
    finally:
        t.close()
    return {name: statistics.median(values) for name, values in samples.items()}


def keygen(path: Path, kind: str) -> None:
    bits = ["-b", "3072"] if kind == "rsa" else []
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, *bits, "-N", "", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--daemons", type=int, default=5)
    ap.add_argument(
        "--connections", type=int, default=120, help="per variant and round; 0: commands only"
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--commands", type=int, default=200, help="per round, on one connection")
    ap.add_argument(
        "--user",
        help="log in as this existing, unlocked local account [default: the current user]",
    )
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="hostops-bench-cost-"))
    keydir = root / "keys"
    keydir.mkdir()
    host_keys = []
    # Extra HostKey lines replace the fleet's one: serve all three types.
    for kind in ("ed25519", "ecdsa", "rsa"):
        keygen(keydir / f"host_{kind}", kind)
        host_keys.append(f"HostKey {keydir / f'host_{kind}'}")
    users: dict[str, paramiko.PKey] = {}
    for kind in ("ed25519", "ecdsa", "rsa"):
        keygen(keydir / f"user_{kind}", kind)
        users[kind] = paramiko.PKey.from_path(str(keydir / f"user_{kind}"))
    os.chmod(root, 0o755)
    extra = tuple(host_keys)
    with SshdFleet(root / "fleet", args.daemons, extra_config=extra, user=args.user) as fleet:
        with open(fleet.authorized_keys, "a") as f:
            for kind in users:
                f.write((keydir / f"user_{kind}.pub").read_text())
        results: dict[str, list[float]] = {v.name: [] for v in VARIANTS}
        if args.connections:
            for v in VARIANTS:  # warm-up: page cache, first-connection costs
                measure(fleet, v, users, len(fleet.hosts))
            for _ in range(args.rounds):
                for v in VARIANTS:
                    results[v.name].append(measure(fleet, v, users, args.connections))
        commands = per_command(fleet, users["ed25519"], args.commands, args.rounds)
    who = f"user {fleet.user}"
    print(f"({args.daemons} daemons, {who}, {_sshd_version()}, paramiko {paramiko.__version__})")
    if args.connections:
        base = statistics.median(results[VARIANTS[0].name])
        print()
        print(f"sshd CPU per connection, median of {args.rounds} rounds of {args.connections}:")
        print()
        print("| variant | sshd ms/conn | vs today |")
        print("|---|---:|---:|")
        for v in VARIANTS:
            ms = statistics.median(results[v.name])
            print(f"| {v.name.strip()} | {ms:.2f} | {ms / base:.2f}x |")
    print()
    print(f"sshd CPU per command on one kept connection, median of {args.rounds} rounds of")
    print(f"{args.commands} (`true`; the connection's own cost left out):")
    print()
    print("| command | sshd ms/command |")
    print("|---|---:|")
    for name, ms in commands.items():
        print(f"| {name} | {ms:.2f} |")
    return 0


def _sshd_version() -> str:
    done = subprocess.run(["/usr/sbin/sshd", "-V"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).split(",")[0].strip()


if __name__ == "__main__":
    sys.exit(main())
