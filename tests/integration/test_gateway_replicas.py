"""Two real ``pellucid serve`` replicas writing to one PostgreSQL: every call stored exactly once.

The replicas start together on an empty schema (both run the migrations), then take concurrent
``/v1`` traffic — chat completions, streamed chat completions, text completions and requests the
gateway rejects — spread over both, as a load balancer would. Early in a second wave one replica
is stopped with SIGTERM, as in a rolling restart, while traffic keeps coming: calls it can no
longer take fail over to the other replica as a new attempt. Finally the other replica is
stopped the same way.

What the database must then hold (each attempt carries a unique marker in the OpenAI ``user``
field, which the gateway stores as ``user_id``):

- every acknowledged attempt (an HTTP answer with ``X-Pellucid-Record-Id``) exactly once, under
  the id the client was given, with the status it was given;
- nothing else but attempts whose outcome the client could not know (the connection dropped
  during the stop), each at most once;
- one schema version row, at the head revision.

A second, in-process test pins a known gap: feedback sent to another replica right after the call
(before the first replica's writer has flushed) is answered 404, because the feedback route only
waits for its own replica's queue.

Both need ``PELLUCID_TEST_POSTGRES_URL`` (``scripts/test.sh`` starts a server for it): skipped
without it, except under ``CI=true`` where that is a failure.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hardening.harness import Server, norm_id
from tests.serve.conftest import make_gateway

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POSTGRES_ENV = "PELLUCID_TEST_POSTGRES_URL"
#: calls in the first wave (both replicas up) and in the second (replica A stopped mid-way)
WAVE_ONE = 240
WAVE_TWO = 160
#: second-wave answers received before replica A is sent SIGTERM
STOP_AFTER = 40
CLIENT_THREADS = 12


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A fresh, empty schema in the test PostgreSQL database (dropped afterwards), as a URL."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        message = (
            f"gateway replicas need PostgreSQL: set {POSTGRES_ENV}, e.g. "
            f"export {POSTGRES_ENV}=$(scripts/postgres.sh start /tmp/pellucid-pg)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # CI runs the PostgreSQL tests (scripts/test.sh starts a server)
        pytest.skip(message)
    from tests.support.postgres import fresh_schema

    with fresh_schema(base, "replicas") as url:
        yield url


@dataclass
class Attempt:
    """One HTTP call as the client saw it."""

    marker: str
    replica: str
    kind: str
    wave: int
    status: int | None = None  # None: no answer (the connection failed)
    record_id: str | None = None
    error: str | None = None


class Load:
    """Logical requests spread over the replicas; a failed connection fails over to the other one."""

    def __init__(self, servers: dict[str, Server]) -> None:
        limits = httpx.Limits(max_connections=CLIENT_THREADS, max_keepalive_connections=CLIENT_THREADS)
        self.clients = {name: httpx.Client(base_url=s.url, timeout=30.0, limits=limits) for name, s in servers.items()}
        self.attempts: list[Attempt] = []
        self.answered: Counter[int] = Counter()  # answers received, per wave
        self._lock = threading.Lock()

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    @staticmethod
    def _kind(n: int) -> str:
        if n % 12 == 5:
            return "rejected"
        return {0: "stream", 1: "completion"}.get(n % 6, "chat")

    def request(self, n: int, wave: int) -> list[Attempt]:
        """Logical request ``n``: first to replica ``a`` or ``b`` by parity, then to the other on failure."""
        names = sorted(self.clients)
        order = names[n % 2 :] + names[: n % 2]
        kind = self._kind(n)
        made: list[Attempt] = []
        for replica in order * 2:
            attempt = Attempt(f"w{wave}-r{n}-a{len(made)}", replica, kind, wave)
            made.append(attempt)
            with self._lock:
                self.attempts.append(attempt)
            try:
                self._send(self.clients[replica], attempt)
            except httpx.TransportError as exc:  # replica stopping or stopped: try the next one
                attempt.error = type(exc).__name__
                time.sleep(0.05)
                continue
            with self._lock:
                self.answered[wave] += 1
            return made
        return made

    @staticmethod
    def _send(client: httpx.Client, attempt: Attempt) -> None:
        common: dict[str, Any] = {"max_tokens": 2, "temperature": 0, "user": attempt.marker}
        chat = {"messages": [{"role": "user", "content": f"Say hello ({attempt.marker})"}], **common}
        if attempt.kind == "completion":
            res = client.post("/v1/completions", json={"prompt": f"Once upon a time ({attempt.marker})", **common})
        elif attempt.kind == "rejected":
            res = client.post("/v1/chat/completions", json={**chat, "n": 2})  # only n=1 is served: 400
        elif attempt.kind == "stream":
            with client.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as streamed:
                body = streamed.read().decode()
                res = streamed
            assert body.rstrip().endswith("data: [DONE]"), body[-300:]
        else:
            res = client.post("/v1/chat/completions", json=chat)
        attempt.status = res.status_code
        attempt.record_id = res.headers.get("X-Pellucid-Record-Id")


def _stored(url: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every record (id, marker, error, gateway status) and the schema's version rows."""
    from sqlalchemy import text

    from pellucid.monitor import Store

    with Store.open(url, upgrade=False) as store:
        assert store.current_revision() == Store.head_revision()
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT id, user_id, error, metadata FROM records")).all()
            versions = [str(v) for v in conn.execute(text("SELECT version_num FROM alembic_version")).scalars()]
        assert store.repo.count() == len(rows)
    records = [
        {
            "id": norm_id(str(r.id)),
            "marker": r.user_id,
            "error": r.error,
            "status": ((r.metadata or {}).get("gateway") or {}).get("status"),
        }
        for r in rows
    ]
    return records, versions


def _stop_in_background(server: Server) -> threading.Thread:
    thread = threading.Thread(target=server.stop, kwargs={"timeout": 60.0}, name="stop-replica")
    thread.start()
    return thread


def test_two_replicas_store_every_call_exactly_once(tiny_dir: Path, tmp_path: Path, pg_url: str) -> None:
    started = time.monotonic()
    servers = {name: Server(tiny_dir, pg_url, tmp_path / f"home-{name}") for name in ("a", "b")}
    load: Load | None = None
    try:
        for server in servers.values():  # both were launched before either is awaited: they migrate together
            server.wait_ready(timeout=120.0)
        ready = time.monotonic() - started
        load = Load(servers)
        with ThreadPoolExecutor(CLIENT_THREADS) as pool:
            wave_one = list(pool.map(lambda n: load.request(n, 1), range(WAVE_ONE)))
            futures = [pool.submit(load.request, n, 2) for n in range(WAVE_TWO)]
            while load.answered[2] < STOP_AFTER and not all(f.done() for f in futures):
                time.sleep(0.01)
            stopping = _stop_in_background(servers["a"])  # rolling restart: traffic keeps coming
            wave_two = [f.result() for f in futures]
            stopping.join(90.0)
        loaded = time.monotonic() - started
    finally:
        if load is not None:
            load.close()
        codes = {name: server.stop() for name, server in servers.items()}
    logs = {name: server.log_path.read_text(errors="replace") for name, server in servers.items()}
    elapsed = time.monotonic() - started

    # both replicas shut down cleanly (uvicorn re-raises SIGTERM after its graceful shutdown)
    for name, code in codes.items():
        assert code in (0, -15), f"replica {name} exited with {code}:\n{logs[name][-3000:]}"
        for sign in ("were lost", "was not logged", "Traceback"):
            assert sign not in logs[name], f"replica {name} logged {sign!r}:\n{logs[name][-3000:]}"

    attempts = load.attempts if load is not None else []
    answered = [a for a in attempts if a.status is not None]
    unknown = [a for a in attempts if a.status is None]
    # every logical request got an answer, on its first replica or after failing over
    for made in wave_one + wave_two:
        assert made[-1].status is not None, made
    for a in answered:
        expected = 400 if a.kind == "rejected" else 200
        assert a.status == expected, a
        assert a.record_id, a
    # both replicas served, in both waves; replica A stopped mid-wave two and its clients failed over
    served = Counter((a.replica, a.wave) for a in answered)
    assert served[("a", 1)] > WAVE_ONE // 4 and served[("b", 1)] > WAVE_ONE // 4, served
    assert served[("a", 2)] > 0 and served[("b", 2)] > WAVE_TWO // 2, served
    assert any(len(made) > 1 for made in wave_two), "no client failed over while replica A stopped"
    assert {a.replica for a in unknown} <= {"a"}, [a for a in unknown if a.replica != "a"]
    given = [norm_id(a.record_id) for a in answered if a.record_id]
    assert len(set(given)) == len(given)  # the two replicas never handed out the same id

    records, versions = _stored(pg_url)
    assert len(versions) == 1  # one schema version row, at the head (checked in _stored)
    per_marker = Counter(r["marker"] for r in records)
    duplicated = {m: c for m, c in per_marker.items() if c > 1}
    assert not duplicated, f"records stored more than once: {duplicated}"
    assert len({r["id"] for r in records}) == len(records)
    by_marker = {r["marker"]: r for r in records}
    missing = [a for a in answered if a.marker not in by_marker]
    assert not missing, f"{len(missing)} acknowledged calls were not stored, e.g. {missing[:3]}"
    for a in answered:
        record = by_marker[a.marker]
        assert record["id"] == norm_id(a.record_id or ""), (a, record)
        assert record["status"] == a.status, (a, record)
        assert (record["error"] is not None) == (a.kind == "rejected"), (a, record)
    extra = set(by_marker) - {a.marker for a in answered}
    assert extra <= {a.marker for a in unknown}, f"records nobody asked for: {sorted(extra)[:5]}"

    print(
        f"\nreplicas: {len(answered)} answered ({dict(sorted(served.items()))}), "
        f"{len(unknown)} dropped by the stopping replica, {len(records)} stored, exit codes {codes}; "
        f"ready at {ready:.1f} s, load done at {loaded:.1f} s, stopped at {elapsed:.1f} s"
    )


def test_feedback_sent_to_another_replica_right_after_the_call(tiny_lm, settings, pg_url: str) -> None:
    replica = contextlib.contextmanager(make_gateway)
    with replica(tiny_lm, settings, pg_url) as a, replica(tiny_lm, settings, pg_url) as b:
        statuses = []
        for n in range(10):
            reply = a.chat(f"call {n}", max_tokens=2, temperature=0)
            assert reply.status_code == 200
            record_id = reply.headers["X-Pellucid-Record-Id"]
            statuses.append(b.client.post(f"/api/records/{record_id}/feedback", json={"kind": "thumbs_up"}).status_code)
    assert statuses == [201] * 10
