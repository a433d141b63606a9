"""A delaying TCP proxy: hosts "far away" on loopback, for benchmarks.

Each listener forwards to one target and holds every chunk of data for half the
added round-trip time in each direction, so a request and its answer take
``delay_ms`` longer than on loopback, without limiting throughput (chunks are
queued, not sent one round trip at a time). The TCP handshake itself is not
delayed: the client's ``connect()`` returns as fast as on loopback, so a
connection costs one round trip less than over a real network of that delay.

One asyncio process serves every listener. As a script it reads a JSON list of
``[listen_address, listen_port, target_address, target_port]`` on stdin, prints
``ready`` once every listener is bound, and runs until killed; from Python,
:class:`DelayProxies` starts and stops that process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

Route = tuple[str, int, str, int]  # listen address, listen port, target address, target port
_Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _carry(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hold: float) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``hold`` seconds after it arrived."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await queue.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not data:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while data := await reader.read(1 << 16):
            queue.put_nowait((loop.time() + hold, data))
    except OSError:
        pass
    queue.put_nowait((loop.time() + hold, b""))
    with contextlib.suppress(OSError):
        await sender


async def _serve(routes: Sequence[Route], delay_s: float) -> None:
    hold = delay_s / 2  # each direction: half the round trip

    def handler(target: tuple[str, int]) -> _Handler:
        async def connected(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
            try:
                sr, sw = await asyncio.open_connection(*target)
            except OSError:
                cw.close()
                return
            try:
                await asyncio.gather(_carry(cr, sw, hold), _carry(sr, cw, hold))
            finally:
                for w in (cw, sw):
                    w.close()

        return connected

    servers = [
        await asyncio.start_server(handler((ta, tp)), la, lp, backlog=1024)
        for la, lp, ta, tp in routes
    ]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


class DelayProxies:
    """The proxy process for ``routes``, with ``delay_ms`` added to each round trip:
    started on ``__enter__`` (returns once every listener is bound), killed on exit."""

    def __init__(self, routes: Sequence[Route], delay_ms: float) -> None:
        self.routes = list(routes)
        self.delay_ms = delay_ms
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> DelayProxies:
        argv = [sys.executable, str(Path(__file__)), "--delay-ms", str(self.delay_ms)]
        self._process = proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(self.routes))
        proc.stdin.close()
        if proc.stdout.readline().strip() != "ready":
            proc.kill()
            raise RuntimeError(f"the delay proxy did not start (exit {proc.wait()})")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, required=True, help="added round-trip time")
    args = parser.parse_args(argv)
    routes = [(str(la), int(lp), str(ta), int(tp)) for la, lp, ta, tp in json.load(sys.stdin)]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(routes, args.delay_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
