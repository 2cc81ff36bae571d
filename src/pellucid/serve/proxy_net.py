"""The proxy's sockets: a lean asyncio network backend under httpcore's connection pools.

httpcore (under httpx) reads a streamed answer through its network backend, one ``read`` per
chunk the upstream sends. Its default backend goes through anyio, and on every read opens a
cancel scope for the read timeout (a generator-based context manager, a scheduled timer and the
task bookkeeping around it), maps exceptions through another context manager, and resumes then
pauses the transport's reading (two ``epoll_ctl`` calls). For a proxy relaying a token stream
that is most of the CPU a relayed chunk costs.

:class:`LeanBackend` is a backend in httpcore's documented interface
(``AsyncConnectionPool(network_backend=...)``); HTTP itself — h11, the pool, keep-alive, httpx's
exceptions — is unchanged. Its streams are plain asyncio protocols: received bytes wait in a
buffer (reading is paused only while :data:`HIGH_WATER` bytes are unread), ``read`` returns them
at once or waits on one future with a timer for the read timeout, and a connection is
"readable" while idle when bytes or the end of the stream arrived (what the pool checks before
reusing it), with no ``poll()`` of the socket. Cancellation from the caller (an anyio or asyncio
cancel) reaches the awaited future as usual. Connecting and TLS use the event loop's own
``create_connection`` and ``start_tls``, with the same timeouts and httpcore's exceptions.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore
from httpcore import AsyncNetworkBackend, AsyncNetworkStream

#: Unread bytes above which the socket's reading is paused until ``read`` takes them.
HIGH_WATER = 1 << 18


class _Protocol(asyncio.Protocol):
    """Collects what the socket receives for :class:`LeanStream` (flow control by :data:`HIGH_WATER`)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > HIGH_WATER and self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._wake()
        return None  # close the transport (a TLS transport ignores the answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        if self.drained is None or self.drained.done():
            self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


async def _wait(future: asyncio.Future[None], timeout: float | None) -> None:
    """Await ``future``; ``TimeoutError`` when it is not done within ``timeout`` seconds."""
    if timeout is None:
        await future
        return
    timer = asyncio.get_running_loop().call_later(timeout, _expire, future)
    try:
        await future
    finally:
        timer.cancel()


class LeanStream(AsyncNetworkStream):
    """One connection: an asyncio transport and the :class:`_Protocol` buffering what it receives."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.chunks and not protocol.eof:
            protocol.waiter = asyncio.get_running_loop().create_future()
            try:
                await _wait(protocol.waiter, timeout)
            except TimeoutError:
                message = f"no data from the upstream within the read timeout of {timeout} s"
                raise httpcore.ReadTimeout(message) from None
            finally:
                protocol.waiter = None
        if not protocol.chunks:
            if protocol.error is not None:
                raise httpcore.ReadError(str(protocol.error) or repr(protocol.error)) from protocol.error
            return b""  # the end of the stream
        chunk = protocol.chunks.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            protocol.chunks.appendleft(rest)
        protocol.buffered -= len(chunk)
        if protocol.paused and protocol.buffered <= HIGH_WATER // 2:
            protocol.paused = False
            self._transport.resume_reading()
        return chunk

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection to the upstream is closed")
        self._transport.write(buffer)
        drained = self._protocol.drained
        if drained is not None and not drained.done():
            try:
                await _wait(asyncio.shield(drained), timeout)
            except TimeoutError:
                message = f"the upstream took no data within the write timeout of {timeout} s"
                raise httpcore.WriteTimeout(message) from None

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            with anyio.fail_after(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self._transport.close()
            raise httpcore.ConnectTimeout(f"TLS handshake not done within the connect timeout of {timeout} s") from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc) or repr(exc)) from exc
        if transport is None:  # the connection was closed during the handshake
            raise httpcore.ConnectError("the upstream closed the connection during the TLS handshake")
        self._protocol.transport = transport
        return LeanStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # an idle connection that received bytes or its end cannot be reused
            return bool(self._protocol.chunks) or self._protocol.eof
        names = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername", "socket": "socket"}
        return self._transport.get_extra_info(names[info]) if info in names else None


class LeanBackend(AsyncNetworkBackend):
    """httpcore's network backend for the proxy's pools (asyncio only; see the module docstring)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,  # httpcore's (level, option, value) tuples,
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            with anyio.fail_after(timeout):
                transport, protocol = await loop.create_connection(_Protocol, host, port, local_addr=local)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"no connection to {host}:{port} within {timeout} s") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or repr(exc)) from exc
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return LeanStream(transport, protocol)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,  # httpcore's (level, option, value) tuples,
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            with anyio.fail_after(timeout):
                transport, protocol = await loop.create_unix_connection(_Protocol, path)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"no connection to {path} within {timeout} s") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or repr(exc)) from exc
        sock: socket.socket = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return LeanStream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
