"""A loopback TCP relay whose traffic can be stopped without a FIN: a network drop.

A kiosk whose Wi-Fi goes sends no FIN and no RST: its server's socket stays open,
and nothing more arrives or is acknowledged. `FrozenRelay.freeze()` does that to
every connection open through it: both sockets stay open and neither direction
moves another byte (nothing is read, so the server's send buffer fills as it would).
`cut()` drops every connection at once instead (no close frame). Used by the keepalive
and SDK reconnect tests (tests/pipelines/test_keepalive.py, test_sdk_reconnect.py).
"""

from __future__ import annotations

import asyncio
import contextlib


class FrozenRelay:
    """Relays 127.0.0.1:`listen_port` to 127.0.0.1:`port`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.listen_port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._frozen: set[int] = set()
        self._closed = asyncio.Event()  # what a frozen pipe waits for: the relay's end

    async def start(self) -> FrozenRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.listen_port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        """The websocket address through the relay."""
        return f"ws://127.0.0.1:{self.listen_port}/ws"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    if number in self._frozen:  # dropped: nothing more, and no close
                        await self._closed.wait()
                        return
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def freeze(self) -> None:
        """Every connection open now stops carrying data both ways and stays open."""
        self._frozen.update(range(1, self.connections + 1))

    def cut(self) -> None:
        """Drop every connection open now at once, as a network cut does; new
        connections flow."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        """Drop every connection and stop listening."""
        self._closed.set()
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


__all__ = ["FrozenRelay"]
