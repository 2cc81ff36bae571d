"""The proxy's lean network backend: reads, timeouts, the end of a stream, resets, flow control, httpx over it."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpcore
import httpx
import pytest

from pellucid.serve import proxy_net
from pellucid.serve.proxy_net import LeanBackend, LeanStream

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _run(handler: Handler, client: Callable[[int], Awaitable[object]]) -> object:
    """Serve ``handler`` on a loopback port and run ``client(port)`` against it."""

    async def main() -> object:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await client(port)
        finally:
            server.close()

    return asyncio.run(main())


def test_reads_what_the_server_sends_then_the_end_of_the_stream():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(5))  # echo
        await writer.drain()
        writer.write(b"bye")
        writer.close()

    async def client(port: int) -> object:
        stream = await LeanBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
        await stream.write(b"hello", timeout=5.0)
        got = b""
        while chunk := await stream.read(65536, timeout=5.0):
            got += chunk
        readable = stream.get_extra_info("is_readable")
        peer = stream.get_extra_info("server_addr")
        await stream.aclose()
        return got, readable, peer

    got, readable, peer = _run(handler, client)  # type: ignore[misc]
    assert got == b"hellobye" and readable is True and peer[0] == "127.0.0.1"


def test_a_read_longer_than_max_bytes_keeps_the_rest_for_the_next_read():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"0123456789")
        await writer.drain()
        await reader.read()  # hold the connection open until the client closes it

    async def client(port: int) -> object:
        stream = await LeanBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
        got = [await stream.read(4, timeout=5.0)]
        while sum(map(len, got)) < 10:
            got.append(await stream.read(4, timeout=5.0))
        idle_and_unread = stream.get_extra_info("is_readable")
        await stream.aclose()
        return got, idle_and_unread

    got, idle_and_unread = _run(handler, client)  # type: ignore[misc]
    assert b"".join(got) == b"0123456789" and all(len(piece) <= 4 for piece in got)
    assert idle_and_unread is False  # nothing waiting, connection open: reusable


def test_a_silent_server_ends_the_read_with_a_read_timeout():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async def client(port: int) -> object:
        stream = await LeanBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
        started = time.monotonic()
        try:
            await stream.read(100, timeout=0.2)
        except httpcore.ReadTimeout as exc:
            return str(exc), time.monotonic() - started
        finally:
            await stream.aclose()
        return None

    message, waited = _run(handler, client)  # type: ignore[misc]
    assert "read timeout of 0.2 s" in message and 0.15 < waited < 2.0


def test_a_reset_connection_is_a_read_error():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
        writer.close()

    async def client(port: int) -> object:
        stream = await LeanBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
        try:
            while await stream.read(100, timeout=5.0):
                pass
        except httpcore.ReadError as exc:
            return str(exc)
        return "end of stream"

    assert "Connection reset by peer" in str(_run(handler, client))


def test_a_refused_connection_is_a_connect_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: refused

    async def main() -> None:
        await LeanBackend().connect_tcp("127.0.0.1", port, timeout=5.0)

    with pytest.raises(httpcore.ConnectError):
        asyncio.run(main())


def test_reading_pauses_above_the_high_water_mark_and_resumes_when_read(monkeypatch):
    monkeypatch.setattr(proxy_net, "HIGH_WATER", 1000)
    sent = b"x" * 50_000

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(sent)
        await writer.drain()
        writer.close()

    async def client(port: int) -> object:
        stream = await LeanBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
        assert isinstance(stream, LeanStream)
        await asyncio.sleep(0.2)  # let the socket fill the buffer past the mark
        paused = stream._protocol.paused
        got = b""
        while chunk := await stream.read(65536, timeout=5.0):
            got += chunk
        return paused, got

    paused, got = _run(handler, client)  # type: ignore[misc]
    assert paused is True and got == sent


def test_cancelling_a_read_leaves_later_data_for_the_next_read():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.3)
        writer.write(b"late")
        await writer.drain()
        await reader.read()

    async def client(port: int) -> object:
        stream = await LeanBackend().connect_tcp("127.0.0.1", port, timeout=5.0)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(stream.read(100, timeout=5.0), 0.05)
        got = await stream.read(100, timeout=5.0)
        await stream.aclose()
        return got

    assert _run(handler, client) == b"late"


def test_httpx_streams_chunked_answers_over_the_lean_pool():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):  # two requests on one kept-alive connection
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            for event in (b"data: 1\n\n", b"data: [DONE]\n\n"):
                writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        await reader.read()

    async def client(port: int) -> object:
        pool = httpcore.AsyncConnectionPool(network_backend=LeanBackend())
        transport = httpx.AsyncHTTPTransport()
        transport._pool = pool
        async with httpx.AsyncClient(transport=transport) as http:
            bodies = []
            for _ in range(2):
                async with http.stream("GET", f"http://127.0.0.1:{port}/") as reply:
                    bodies.append([chunk async for chunk in reply.aiter_raw()])
            return bodies, len(pool.connections)

    bodies, connections = _run(handler, client)  # type: ignore[misc]
    assert bodies == [[b"data: 1\n\n", b"data: [DONE]\n\n"]] * 2 and connections == 1


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files (the certificate is its own authority)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_https_through_the_lean_backend_verifies_the_certificate(tmp_path):
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    async def client() -> object:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecure")
            await writer.drain()
            await reader.read()

        server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=server_tls)
        port = server.sockets[0].getsockname()[1]
        results = []
        try:
            for trusted in (ssl.create_default_context(cafile=str(cert)), ssl.create_default_context()):
                transport = httpx.AsyncHTTPTransport()
                transport._pool = httpcore.AsyncConnectionPool(ssl_context=trusted, network_backend=LeanBackend())
                async with httpx.AsyncClient(transport=transport) as http:
                    try:
                        results.append((await http.get(f"https://127.0.0.1:{port}/")).text)
                    except httpx.ConnectError as exc:
                        results.append(f"ConnectError: {exc}")
        finally:
            server.close()
        return results

    secure, refused = asyncio.run(client())  # type: ignore[misc]
    assert secure == "secure" and refused.startswith("ConnectError") and "CERTIFICATE_VERIFY_FAILED" in refused
