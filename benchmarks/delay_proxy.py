"""A TCP proxy that adds round-trip time: one listener per target, each byte delivered
half the added round trip after it arrived, in order, with no bandwidth limit.

    python benchmarks/delay_proxy.py --rtt-ms 50 --routes routes.json

``routes.json`` is a JSON list of ``{"listen": "127.79.0.1", "target": "127.77.0.1:2222"}``
(loopback addresses only). Each listener binds a free port on its address; when all
are listening the proxy prints one JSON line, the routes with ``"listen"`` now
``ADDR:PORT``, and serves until SIGTERM or SIGINT.

Why a proxy and not ``tc netem``: netem on ``lo`` would delay every loopback
connection of the machine (other people's tests included) and needs root. The
proxy delays only the connections made to its listeners; it runs in its own
process, so its CPU is counted in neither the client's nor the servers' figures.
The delay is applied per chunk read (``TCP_NODELAY`` on both sides, so the proxy
itself adds no Nagle wait): a chunk read at time t is written at t + rtt/2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

Chunks = asyncio.Queue[tuple[float, bytes]]  # (when to deliver, data); b"" is the EOF


def _read_stamped(reader: asyncio.StreamReader, delay: float) -> tuple[Chunks, asyncio.Task[None]]:
    """Start reading ``reader`` now: each chunk is queued with the time it is due."""
    loop = asyncio.get_running_loop()
    queue: Chunks = asyncio.Queue()

    async def read() -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                queue.put_nowait((loop.time() + delay, data))
        queue.put_nowait((loop.time() + delay, b""))

    return queue, asyncio.create_task(read())


async def _deliver(queue: Chunks, writer: asyncio.StreamWriter) -> None:
    """Write each queued chunk when it is due; the end of the stream becomes a half-close."""
    loop = asyncio.get_running_loop()
    while True:
        due, data = await queue.get()
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if not data:
            if writer.can_write_eof():
                writer.write_eof()
            return
        writer.write(data)
        await writer.drain()


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _handler(
    target: tuple[str, int], delay: float
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        _nodelay(c_writer)
        # What the client sends is stamped from now (its connect returned at once)...
        upstream, c_reading = _read_stamped(c_reader, delay)
        # ...while the server sees the connection after SYN, SYN-ACK and ACK (3 one-way
        # delays): its banner reaches the client 2 round trips after the connect, and the
        # client's first bytes reach the server 1.5 round trips after, as on a real network.
        await asyncio.sleep(3 * delay)
        tasks = [c_reading]
        s_writer = None
        try:
            s_reader, s_writer = await asyncio.open_connection(*target)
            _nodelay(s_writer)
            downstream, s_reading = _read_stamped(s_reader, delay)
            tasks.append(s_reading)
            await asyncio.gather(_deliver(upstream, s_writer), _deliver(downstream, c_writer))
        except (OSError, asyncio.CancelledError):
            pass  # a refused connect, a reset on either side, or the proxy stopping
        finally:
            for task in tasks:
                task.cancel()
            for w in (c_writer, s_writer):
                if w is not None:
                    w.close()
                    with contextlib.suppress(OSError):
                        await w.wait_closed()

    return handle


def _loopback(address: str) -> str:
    if not ipaddress.ip_address(address).is_loopback:
        raise SystemExit(f"delay_proxy: {address} is not a loopback address")
    return address


async def serve(routes: list[dict[str, str]], rtt_ms: float) -> None:
    """Listen for every route, print the bound ports as one JSON line, serve until signalled."""
    delay = rtt_ms / 2000.0
    servers = []
    bound = []
    for route in routes:
        host, port = route["target"].rsplit(":", 1)
        target = (_loopback(host), int(port))
        listen = _loopback(route["listen"])
        server = await asyncio.start_server(_handler(target, delay), listen, 0, backlog=1024)
        servers.append(server)
        port_bound = server.sockets[0].getsockname()[1]
        bound.append({"listen": f"{listen}:{port_bound}", "target": route["target"]})
    sys.stdout.write(json.dumps(bound) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt-ms", type=float, required=True, help="round-trip time to add")
    parser.add_argument("--routes", type=Path, required=True, help="JSON list of routes")
    args = parser.parse_args(argv)
    asyncio.run(serve(json.loads(args.routes.read_text()), args.rtt_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
