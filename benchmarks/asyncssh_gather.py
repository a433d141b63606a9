"""asyncssh baseline: one event loop, ``asyncio.gather`` over a connection to every host.

known_hosts and the private key are parsed once and shared by every
connection; no SSH agent, no ~/.ssh/config. asyncssh is installed for the
benchmark only; it is not a dependency of hostops.
"""

from __future__ import annotations

import asyncio
import sys

import asyncssh
from bench_common import Target, client_parser, emit, read_targets


async def run_on(
    target: Target,
    command: str,
    key: asyncssh.SSHKey,
    known: asyncssh.SSHKnownHosts,
    timeout: float,
) -> tuple[str, str | None]:
    """Connect to ``target``, run ``command``: (stdout, None) on success, else (stdout, reason)."""
    try:
        async with asyncssh.connect(
            target.address,
            port=target.port,
            username=target.user,
            client_keys=[key],
            known_hosts=known,
            agent_path=None,
            config=[],
            connect_timeout=timeout,
        ) as conn:
            result = await asyncio.wait_for(conn.run(command, check=False), timeout)
    except Exception as exc:  # report every failure as this host's result
        return "", f"{type(exc).__name__}: {exc}"
    output = str(result.stdout or "")
    return output, None if result.exit_status == 0 else f"exit status {result.exit_status}"


async def run_all(
    targets: list[Target], command: str, key_path: str, known_hosts: str, timeout: float
) -> list[tuple[str, str | None]]:
    """Run ``command`` on all targets at once."""
    key = asyncssh.read_private_key(key_path)
    known = asyncssh.read_known_hosts(known_hosts)
    return await asyncio.gather(*(run_on(t, command, key, known, timeout) for t in targets))


def main(argv: list[str] | None = None) -> int:
    args = client_parser(__doc__.splitlines()[0]).parse_args(argv)
    targets = read_targets(args.targets)
    results = asyncio.run(run_all(targets, args.command, args.key, args.known_hosts, args.timeout))
    for target, (output, error) in zip(targets, results, strict=True):
        emit(target.name, output, error)
    return 0 if all(error is None for _, error in results) else 1


if __name__ == "__main__":
    sys.exit(main())
