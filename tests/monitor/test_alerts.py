"""Alert rules: the condition language, firing exactly when the condition holds, webhook and
command delivery, history, and the scheduler thread."""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest

from pellucid.errors import InvalidInputError
from pellucid.monitor import Store
from pellucid.monitor import alerts as alerts_module
from pellucid.monitor.alert_conditions import parse_condition
from pellucid.monitor.alerts import AlertScheduler, add_rule, check_rule, check_rules
from tests.monitor.conftest import at

NOW = at("2026-11-20 12:00")


def test_condition_language() -> None:
    c = parse_condition("mean(latency_ms) > 500 over 1h")
    assert (c.kind, c.function, c.metric, c.operator, c.threshold, c.window) == (
        "aggregate",
        "mean",
        "latency_ms",
        ">",
        500.0,
        timedelta(hours=1),
    )
    c = parse_condition("rate(feedback=thumbs_down) > 0.3 over 1d")
    assert (c.kind, c.metric, c.feedback_kind, c.label) == (
        "rate",
        "feedback",
        "thumbs_down",
        "rate(feedback=thumbs_down)",
    )
    assert parse_condition("rate(flag=empty_prompt) >= 0.1").metric == "flag:empty_prompt"
    c = parse_condition("drift(embedding) p < 0.01")
    assert (c.kind, c.window, c.reference) == ("drift", timedelta(days=1), timedelta(days=7))
    assert parse_condition("p95(ttft_ms) >= 1e3 over 30m").threshold == 1000.0
    assert c.holds(0.001) and not c.holds(0.01) and not c.holds(None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("latency_ms > 500", "Cannot read"),
        ("avg(latency_ms) > 5", "Unknown function 'avg'"),
        ("rate(feedback=meh) > 0.3", "rate"),
        ("drift(embedding) < 0.01", "p-value"),
        ("mean(latency_ms) p < 3", "only follows drift"),
        ("mean(latency_ms) > 5 over 3x", "duration"),
    ],
)
def test_bad_conditions(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_condition(text)


def _latencies(store: Store, make, values, minutes_ago: float = 10) -> list:
    rows = [make(latency_ms=v, created_at=NOW - timedelta(minutes=minutes_ago)) for v in values]
    store.repo.insert_records(rows)
    return rows


def test_fires_exactly_when_the_condition_holds(store: Store, make) -> None:
    _latencies(store, make, [400.0, 600.0])  # mean exactly 500
    strict = add_rule(store, "strict", "mean(latency_ms) > 500 over 1h")
    add_rule(store, "loose", "mean(latency_ms) >= 500 over 1h")
    old = add_rule(store, "old", "max(latency_ms) > 0 over 1m")  # the window has no records
    results = {r.rule: r for r in check_rules(store, now=NOW)}
    assert results["strict"].value == pytest.approx(500.0) and not results["strict"].fired
    assert results["loose"].fired and results["loose"].state == "firing"
    assert results["old"].value is None and not results["old"].holds
    history = store.alerts.alert_history()
    assert [e.rule_name for e in history] == ["loose"] and history[0].value == pytest.approx(500.0)
    assert history[0].delivery_status == "no_action"
    # still holding: silent; stops holding: back to ok; holds again: fires again
    assert not check_rule(store, store.alerts.get_alert_rule("loose"), now=NOW).fired
    _latencies(store, make, [0.0, 0.0])
    assert check_rule(store, store.alerts.get_alert_rule("loose"), now=NOW).state == "ok"
    _latencies(store, make, [2000.0])
    assert check_rule(store, store.alerts.get_alert_rule("loose"), now=NOW).fired
    assert len(store.alerts.alert_history("loose")) == 2
    assert store.alerts.get_alert_rule(strict.id).last_value == pytest.approx(500.0)
    assert store.alerts.get_alert_rule(old.name).state == "ok"


def test_repeat_seconds_notifies_again(store: Store, make) -> None:
    _latencies(store, make, [900.0])
    add_rule(store, "r", "max(latency_ms) > 500 over 1h", repeat_seconds=600)
    assert check_rules(store, now=NOW)[0].fired
    assert not check_rules(store, now=NOW + timedelta(minutes=5))[0].fired
    assert check_rules(store, now=NOW + timedelta(minutes=10))[0].fired  # 10 min after firing, still in the window


def test_feedback_rate_and_percentiles(store: Store, make) -> None:
    rows = _latencies(store, make, [float(v) for v in range(1, 11)])
    for i, r in enumerate(rows):
        store.repo.add_feedback(r.id, "thumbs_down" if i < 4 else "thumbs_up")
    add_rule(store, "unhappy", "rate(feedback=thumbs_down) > 0.3 over 1d")
    add_rule(store, "very", "rate(feedback=thumbs_down) > 0.4 over 1d")
    add_rule(store, "p90", "p90(latency_ms) > 9 over 1d")
    results = {r.rule: r for r in check_rules(store, now=NOW)}
    assert results["unhappy"].value == pytest.approx(0.4) and results["unhappy"].n == 10 and results["unhappy"].fired
    assert not results["very"].fired
    assert results["p90"].value == pytest.approx(np.percentile(np.arange(1, 11), 90)) and results["p90"].fired


def test_drift_condition_detects_a_planted_shift(store: Store, make) -> None:
    rng = np.random.default_rng(0)
    ref = [make(prompt=f"r{i}", created_at=NOW - timedelta(days=3, minutes=i)) for i in range(40)]
    cur = [make(prompt=f"c{i}", created_at=NOW - timedelta(hours=2, minutes=i)) for i in range(40)]
    store.repo.insert_records(ref + cur)
    vectors = [(r.id, "prompt", "enc", rng.normal(size=8)) for r in ref]
    vectors += [(r.id, "prompt", "enc", rng.normal(size=8) + 1.5) for r in cur]
    store.repo.add_embeddings(vectors)
    add_rule(store, "drift", "drift(embedding) p < 0.01 over 1d vs 7d")
    (result,) = check_rules(store, now=NOW)
    assert result.fired and result.value < 0.01 and result.n == 40


def test_scalar_drift_condition_uses_ks(store: Store, make) -> None:
    rng = np.random.default_rng(1)
    ref = [
        make(latency_ms=float(rng.normal(200, 20)), created_at=NOW - timedelta(days=2, minutes=i)) for i in range(30)
    ]
    cur = [
        make(latency_ms=float(rng.normal(200, 20)), created_at=NOW - timedelta(hours=1, minutes=i)) for i in range(30)
    ]
    store.repo.insert_records(ref + cur)
    add_rule(store, "lat", "drift(latency_ms) p < 0.01 over 1d vs 7d")
    (quiet,) = check_rules(store, now=NOW)
    assert not quiet.fired and quiet.value > 0.01 and quiet.n == 30
    store.repo.insert_records(
        [make(latency_ms=float(rng.normal(400, 20)), created_at=NOW - timedelta(minutes=i + 1)) for i in range(30)]
    )
    (shifted,) = check_rules(store, now=NOW)
    assert shifted.fired and shifted.value < 0.01 and shifted.n == 60


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def webhook():
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Hook.received
    server.shutdown()
    server.server_close()


def test_webhook_receives_the_alert(store: Store, make, webhook) -> None:
    url, received = webhook
    _latencies(store, make, [800.0])
    add_rule(store, "slow", "mean(latency_ms) > 500 over 1h", action="webhook", target=url)
    (result,) = check_rules(store, now=NOW)
    assert result.fired and result.event.delivery_status == "delivered" and result.event.delivery_detail == "HTTP 204"
    ((content_type, body),) = received
    assert content_type == "application/json"
    assert body["rule"] == "slow" and body["value"] == 800.0 and body["threshold"] == 500.0
    assert body["condition"] == "mean(latency_ms) > 500 over 1h" and body["n"] == 1
    assert body["fired_at"] == NOW.isoformat()


def test_unreachable_webhook_is_recorded_as_failed(store: Store, make) -> None:
    _latencies(store, make, [800.0])
    add_rule(store, "slow", "mean(latency_ms) > 500 over 1h", action="webhook", target="http://127.0.0.1:9/none")
    (result,) = check_rules(store, now=NOW)
    assert result.fired and result.event.delivery_status == "failed"
    assert store.alerts.alert_history("slow")[0].delivery_detail


def test_command_gets_json_on_stdin_and_env(store: Store, make, tmp_path: Path) -> None:
    out = tmp_path / "alert.json"
    script = (
        "import json, os, sys; d = json.load(sys.stdin); "
        f"d['env'] = os.environ['PELLUCID_ALERT_RULE'] + '|' + os.environ['PELLUCID_ALERT_VALUE']; "
        f"open({str(out)!r}, 'w').write(json.dumps(d))"
    )
    command = f'"{sys.executable}" -c "{script}"'
    _latencies(store, make, [800.0])
    add_rule(store, "slow", "mean(latency_ms) > 500 over 1h", action="command", target=command)
    (result,) = check_rules(store, now=NOW)
    assert result.event.delivery_status == "delivered", result.event.delivery_detail
    data = json.loads(out.read_text())
    assert data["rule"] == "slow" and data["value"] == 800.0 and data["env"] == "slow|800.0"
    add_rule(store, "broken", "mean(latency_ms) > 500 over 1h", action="command", target="exit 3")
    results = {r.rule: r for r in check_rules(store, now=NOW)}
    assert results["broken"].event.delivery_status == "failed" and "exit 3" in results["broken"].event.delivery_detail


def test_rule_validation_and_removal_keeps_history(store: Store, make) -> None:
    with pytest.raises(InvalidInputError, match="http"):
        add_rule(store, "x", "mean(latency_ms) > 1", action="webhook", target="ftp://x")
    with pytest.raises(InvalidInputError, match="Unknown alert action"):
        add_rule(store, "x", "mean(latency_ms) > 1", action="email")
    add_rule(store, "x", "max(latency_ms) > 1 over 1h")
    with pytest.raises(InvalidInputError, match="already exists"):
        add_rule(store, "x", "mean(latency_ms) > 2")
    _latencies(store, make, [5.0])
    check_rules(store, now=NOW)
    removed = store.alerts.remove_alert_rule("x")
    assert removed.name == "x" and store.alerts.list_alert_rules() == []
    (event,) = store.alerts.alert_history("x")
    assert event.rule_id is None and event.rule_name == "x"
    with pytest.raises(LookupError, match="No alert rule 'x'"):
        store.alerts.get_alert_rule("x")


def test_disabled_rules_are_not_checked(store: Store, make) -> None:
    _latencies(store, make, [800.0])
    add_rule(store, "off", "mean(latency_ms) > 1 over 1h", enabled=False)
    assert check_rules(store, now=NOW) == []


def test_scheduler_thread_checks_rules(store: Store, make) -> None:
    from pellucid.monitor.records import utcnow

    rows = [make(latency_ms=900.0, created_at=utcnow() - timedelta(minutes=1))]
    store.repo.insert_records(rows)
    add_rule(store, "slow", "mean(latency_ms) > 500 over 1h")
    scheduler = AlertScheduler(store, interval=0.05)
    scheduler.start()
    try:
        deadline = time.monotonic() + 30
        while not store.alerts.alert_history() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.stop()
    assert not scheduler.running and scheduler.rounds >= 1
    assert len(store.alerts.alert_history()) == 1  # fired once, silent while still holding


def test_a_dry_run_changes_nothing_so_the_next_check_still_fires(store: Store, make, monkeypatch) -> None:
    sent: list[str] = []
    monkeypatch.setattr(alerts_module, "deliver", lambda rule, payload: (sent.append(rule.name), ("sent", None))[1])
    _latencies(store, make, [900.0, 950.0])
    add_rule(store, "slow", "mean(latency_ms) > 500 over 1h", action="webhook", target="http://127.0.0.1:9/hook")
    [dry] = check_rules(store, now=NOW, dry_run=True)
    assert dry.fired and dry.dry_run and dry.event is None and sent == []
    rule = store.alerts.get_alert_rule("slow")
    assert rule.state == "ok" and rule.last_fired_at is None and store.alerts.alert_history() == []
    [real] = check_rules(store, now=NOW)
    assert real.fired and not real.dry_run and real.event is not None and sent == ["slow"]
    assert store.alerts.get_alert_rule("slow").state == "firing" and len(store.alerts.alert_history()) == 1


def test_a_rule_on_a_metric_nothing_computes_is_refused_with_the_metrics(store: Store) -> None:
    with pytest.raises(InvalidInputError, match=r"Unknown metric 'latncy_ms'.*Metrics: .*latency_ms.*perplexity"):
        add_rule(store, "typo", "mean(latncy_ms) > 500 over 1h")
    with pytest.raises(InvalidInputError, match=r"drift\(embedding\|prompt_embedding\|response_embedding\)"):
        add_rule(store, "typo", "drift(embeding) p < 0.01 over 1d vs 7d")
    assert store.alerts.list_alert_rules() == []
    add_rule(store, "flagged", "rate(flag=empty_prompt) > 0.1 over 1d")  # any flag name is accepted
    add_rule(store, "ppl", "mean(perplexity) > 50 over 1d")  # the enrichment computes it later


def test_an_ok_rule_says_it_is_not_breached(store: Store, make) -> None:
    store.repo.insert_records([make(latency_ms=100.0, created_at=NOW - timedelta(minutes=5))])
    add_rule(store, "slow", "mean(latency_ms) > 500 over 1h")
    (result,) = check_rules(store, now=NOW)
    assert not result.holds
    assert result.message == "slow: mean(latency_ms) = 100 over the last 1h (n=1); rule: fire when > 500: not breached"


def test_drift_without_a_reference_counts_the_current_records_and_says_why(store: Store, make) -> None:
    """The last day holds 19 records but the 7 days before it none: n is 19, not 0, and the reason is given."""
    store.repo.insert_records([make(prompt=f"c{i}", created_at=NOW - timedelta(hours=1, minutes=i)) for i in range(19)])
    add_rule(store, "drift", "drift(embedding) p < 0.01 over 1d vs 7d")
    (result,) = check_rules(store, now=NOW)
    assert result.value is None and not result.fired and result.n == 19
    assert "(n=19)" in result.message and "no data to judge (" in result.message
