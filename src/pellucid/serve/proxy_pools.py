"""The proxy's connections to its upstreams: httpx connection pools, used through their transports.

:class:`UpstreamPools` opens :data:`POOLS` ``httpx.AsyncHTTPTransport`` pools at start-up and
closes them at shutdown. A proxied call goes straight to a pool's transport
(:meth:`UpstreamPools.send`): an ``AsyncClient``'s own layers — auth, redirects, a cookie jar
shared by every caller (a proxy must not carry one client's cookies into another's call), event
hooks — do nothing a proxy wants and cost a good share of a call's CPU. The request still
carries what an ``AsyncClient`` would send, and errors are httpx's own exceptions
(``ConnectError``, ``ReadTimeout``, ...), mapped from httpcore's by the transport.

The pools read and write through :class:`~pellucid.serve.proxy_net.LeanBackend`, asyncio
sockets without anyio's per-read cancel scope (most of a relayed chunk's CPU otherwise).

Why several pools, and the one a call takes: httpcore's pool scans every connection (asking
each idle one whether it is readable) and every waiting request whenever a request starts or
ends, a cost that grows with the square of the calls in flight. Many small pools taken in turn
(a connection or two each under 50 concurrent calls) cost far less than one big one. At a low
rate a call stays on the previous call's pool instead, when the next one has no live idle
connection, so calls keep reusing one warm connection (:meth:`UpstreamPools._warm`).
"""

from __future__ import annotations

import ssl

import certifi
import httpcore
import httpx

from pellucid.serve.proxy_net import LeanBackend
from pellucid.serve.upstreams import Upstream

#: Connection pools the proxy spreads its calls over.
POOLS = 32

#: The headers an ``httpx.AsyncClient`` adds to every request.
CLIENT_HEADERS = {"Accept": "*/*", "Connection": "keep-alive", "User-Agent": f"python-httpx/{httpx.__version__}"}


def headers_for(upstream: Upstream) -> dict[str, str]:
    """The headers of a call to ``upstream``: JSON, no compression, its API key if it has one.

    Raises:
        InvalidInputError: the upstream's key variable is configured but unset.
    """
    headers = {**CLIENT_HEADERS, "Content-Type": "application/json", "Accept-Encoding": "identity"}
    key = upstream.api_key()
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _transport(
    limits: httpx.Limits, tls: ssl.SSLContext
) -> tuple[httpx.AsyncHTTPTransport, httpcore.AsyncConnectionPool]:
    """httpx's transport over an httpcore pool on the lean sockets of :mod:`pellucid.serve.proxy_net`, and that pool.

    The pool is the one ``AsyncHTTPTransport(limits=limits, verify=tls)`` makes, with the
    network backend as the only difference (httpx takes no backend argument, so the pool is
    made here and put in place of the transport's own, which never opened a connection).
    """
    transport = httpx.AsyncHTTPTransport(limits=limits, verify=tls)
    transport._pool = pool = httpcore.AsyncConnectionPool(
        ssl_context=tls,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        http1=True,
        http2=False,
        network_backend=LeanBackend(),
    )
    return transport, pool


class UpstreamPools:
    """:data:`POOLS` connection pools taken in turn, and an ``AsyncClient`` over each for occasional calls."""

    def __init__(self) -> None:
        self._pools: list[httpx.AsyncHTTPTransport] = []
        self._cores: list[httpcore.AsyncConnectionPool] = []  # the pools' httpcore pools (their connections)
        self._clients: list[httpx.AsyncClient] = []
        self._turn = 0
        self._urls: dict[tuple[str, str], httpx.URL] = {}  # parsed once per upstream and endpoint

    def start(self, timeout: httpx.Timeout) -> None:
        """Open the pools (no connection is made until a call needs one)."""
        # per pool; all pools together: 512 connections at most, 128 kept alive when idle
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=4, keepalive_expiry=30.0)
        tls = ssl.create_default_context(cafile=certifi.where())  # httpx's default, loaded once for all pools
        made = [_transport(limits, tls) for _ in range(POOLS)]
        self._pools, self._cores = [t for t, _ in made], [c for _, c in made]
        self._clients = [httpx.AsyncClient(timeout=timeout, transport=pool) for pool in self._pools]

    async def close(self) -> None:
        """Close every pool and its connections."""
        clients, self._clients, self._pools, self._cores = self._clients, [], [], []
        for client in clients:
            await client.aclose()  # closes its pool

    def _next(self) -> int:
        if not self._pools:
            raise RuntimeError("Proxy.start() was not called: the app's lifespan opens the HTTP clients.")
        self._turn = (self._turn + 1) % len(self._pools)
        return self._turn

    def _warm(self) -> int:
        """The next pool in turn, unless it has no live idle connection and the previous call's pool has one.

        Under load the pools are taken in turn (each has idle connections released by the calls
        that ended). At a low rate, taking the 32 pools in turn would leave each one unused for
        longer than upstream servers keep an idle connection open (5 s for uvicorn, hence vLLM),
        so every call would connect anew (and for HTTPS, shake hands anew): the next pool's
        connections are then closed by the upstream, and the call stays on the previous pool,
        whose connection the previous call has just used.
        """
        if not self._pools:
            raise RuntimeError("Proxy.start() was not called: the app's lifespan opens the HTTP clients.")
        following = (self._turn + 1) % len(self._pools)
        if not self._has_live_idle(following) and self._has_live_idle(self._turn):
            return self._turn
        self._turn = following
        return following

    def _has_live_idle(self, index: int) -> bool:
        """Whether pool ``index`` has an idle connection the upstream has not closed (one it can reuse)."""
        return any(c.is_idle() and not c.has_expired() for c in self._cores[index].connections)

    @property
    def client(self) -> httpx.AsyncClient:
        """The next pool's client (for occasional calls such as ``/models``)."""
        return self._clients[self._next()]

    def url_for(self, upstream: Upstream, path: str) -> httpx.URL:
        """The upstream's URL of ``path``, parsed once (httpx parses a string on every request)."""
        key = (upstream.name, path)
        url = self._urls.get(key)
        if url is None:
            url = self._urls[key] = httpx.URL(upstream.url(path))
        return url

    async def send(self, upstream: Upstream, path: str, body: bytes, timeout: httpx.Timeout) -> httpx.Response:
        """POST ``body`` to the upstream's ``path`` on the pool :meth:`_warm` picks; the body of the answer is unread.

        Close the answer (``aclose``, or read it to the end) to give the connection back.
        """
        request = httpx.Request(
            "POST",
            self.url_for(upstream, path),
            content=body,
            headers=headers_for(upstream),
            extensions={"timeout": timeout.as_dict()},
        )
        reply = await self._pools[self._warm()].handle_async_request(request)
        reply.request = request
        return reply
