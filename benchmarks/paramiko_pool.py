"""Naive paramiko baseline: one ``SSHClient`` per host, one thread per host.

By default the known_hosts file is parsed once and every connection checks the
server's key against that one shared :class:`paramiko.HostKeys` (linear cost).
With ``--reparse-known-hosts`` every connection calls
``client.load_host_keys(path)`` itself, as naive code does: N connections each
parse an N-line file, a cost quadratic in the fleet size. The private key is
loaded once in both variants; the two differ only in how host keys are set up.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import paramiko
from bench_common import Target, client_parser, emit, read_targets

HostKeySetup = Callable[[paramiko.SSHClient], None]


class SharedKnownHosts(paramiko.MissingHostKeyPolicy):
    """Accept a server only if its key is in one ``HostKeys`` parsed once and shared."""

    def __init__(self, known: paramiko.HostKeys) -> None:
        self._known = known

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        """Called for every connection, since each client's own host key table is empty."""
        entry = self._known.lookup(hostname)
        if entry is None or entry.get(key.get_name()) != key:
            raise paramiko.SSHException(f"host key for {hostname} is not in known_hosts")


def shared_known_hosts(path: str) -> HostKeySetup:
    """Parse ``path`` once here; each client only gets a policy that reads the shared table."""
    policy = SharedKnownHosts(paramiko.HostKeys(path))
    return lambda client: client.set_missing_host_key_policy(policy)


def reparse_known_hosts(path: str) -> HostKeySetup:
    """Each client parses ``path`` itself and rejects hosts not in it."""

    def setup(client: paramiko.SSHClient) -> None:
        client.load_host_keys(path)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())

    return setup


def run_on(
    target: Target, command: str, pkey: paramiko.PKey, setup: HostKeySetup, timeout: float
) -> tuple[str, str | None]:
    """Connect to ``target``, run ``command``: (stdout, None) on success, else (stdout, reason)."""
    client = paramiko.SSHClient()
    try:
        setup(client)
        client.connect(
            target.address,
            port=target.port,
            username=target.user,
            pkey=pkey,
            look_for_keys=False,
            allow_agent=False,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
        )
        _, stdout, _ = client.exec_command(command, timeout=timeout)
        output = stdout.read().decode("utf-8", "replace")
        status = stdout.channel.recv_exit_status()
    except Exception as exc:  # report every failure as this host's result
        return "", f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return output, None if status == 0 else f"exit status {status}"


def main(argv: list[str] | None = None) -> int:
    parser = client_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--reparse-known-hosts",
        action="store_true",
        help="every connection parses known_hosts again (the quadratic reference)",
    )
    parser.add_argument("--threads", type=int, help="thread pool size [default: one per host]")
    args = parser.parse_args(argv)
    targets = read_targets(args.targets)
    make_setup = reparse_known_hosts if args.reparse_known_hosts else shared_known_hosts
    setup = make_setup(args.known_hosts)
    pkey = paramiko.PKey.from_path(args.key)
    with ThreadPoolExecutor(max_workers=args.threads or len(targets)) as pool:
        results = list(
            pool.map(lambda t: run_on(t, args.command, pkey, setup, args.timeout), targets)
        )
    for target, (output, error) in zip(targets, results, strict=True):
        emit(target.name, output, error)
    return 0 if all(error is None for _, error in results) else 1


if __name__ == "__main__":
    sys.exit(main())
