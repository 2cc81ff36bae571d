"""Alert rules: checked on demand or on a schedule; firing stores an event and notifies.

    add_rule(store, "slow", "mean(latency_ms) > 500 over 1h", action="webhook",
             target="http://127.0.0.1:9000/hooks/pellucid")
    check_rules(store)                     # what `pellucid monitor alerts check` runs
    AlertScheduler(store, interval=60).start()   # what a server runs

**When a rule fires.** Each check computes the rule's value over its window and compares it with
the threshold (:mod:`.alert_conditions`). A rule that starts to hold fires once: an event is
stored and the action runs. While it keeps holding it stays ``firing`` and is silent, unless
``repeat_seconds`` is set (then it notifies again after that long). When it stops holding it
goes back to ``ok``. A window without data never holds.

**Actions.**

- ``webhook``: an HTTP POST of the alert as JSON (``Content-Type: application/json``) to an
  ``http(s)://`` URL; any 2xx answer counts as delivered.
- ``command``: a shell command run with the alert as JSON on its standard input and in
  environment variables ``PELLUCID_ALERT_RULE``, ``PELLUCID_ALERT_VALUE``,
  ``PELLUCID_ALERT_THRESHOLD``, ``PELLUCID_ALERT_CONDITION``, ``PELLUCID_ALERT_MESSAGE``; exit
  status 0 counts as delivered. Commands run with the server's rights: only an administrator
  should be able to create them (the REST API refuses them unless enabled).
- ``none``: only the event is stored.

Delivery failures never raise: they are stored on the event (``failed`` and the reason).
Several processes running the scheduler against one database may each notify: run it in one.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError
from pellucid.monitor.alert_conditions import DRIFT_EMBEDDINGS, Condition, parse_condition
from pellucid.monitor.analytics_records import AlertEventInfo, AlertRuleInfo
from pellucid.monitor.background import PeriodicWorker
from pellucid.monitor.records import RecordFilter, utcnow

if TYPE_CHECKING:
    from pellucid.monitor.store import Store

log = logging.getLogger(__name__)

ACTIONS = ("webhook", "command", "none")
WEBHOOK_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 60.0


def _check_metric(store: Store, cond: Condition) -> None:
    """Refuse a rule on a metric nothing computes: it would say "no data" forever.

    Known: the built-in metrics, the enrichment's, every metric stored so far (custom metrics,
    evaluation scores), flags (``flag:NAME``, any name) and the drift embeddings.
    """
    from pellucid.monitor.enrich import ENRICH_METRICS

    if cond.metric.startswith("flag:") or cond.feedback_kind is not None:
        return
    if cond.kind == "drift" and cond.metric in DRIFT_EMBEDDINGS:
        return
    known = list(dict.fromkeys([*store.repo.metric_names(), *ENRICH_METRICS, "feedback"]))
    if cond.metric not in known:
        extra = f", or drift({'|'.join(DRIFT_EMBEDDINGS)})" if cond.kind == "drift" else ""
        raise InvalidInputError(
            f"Unknown metric {cond.metric!r} in {cond.text!r}: no record has it and nothing computes it. "
            f"Metrics: {', '.join(known)}, flag:NAME{extra}."
        )


def add_rule(
    store: Store,
    name: str,
    condition: str,
    *,
    action: str = "none",
    target: str | None = None,
    enabled: bool = True,
    repeat_seconds: int | None = None,
) -> AlertRuleInfo:
    """Validate and store a rule (see the module docstring for actions)."""
    if not name or not name.strip() or len(name) > 200:
        raise InvalidInputError(f"An alert rule needs a name of 1 to 200 characters, got {name!r}.")
    parsed = parse_condition(condition)
    _check_metric(store, parsed)
    if action not in ACTIONS:
        raise InvalidInputError(f"Unknown alert action {action!r}. Available: {', '.join(ACTIONS)}.")
    if action == "webhook" and not (target or "").startswith(("http://", "https://")):
        raise InvalidInputError(f"A webhook action needs an http:// or https:// URL, got {target!r}.")
    if action == "command" and not (target or "").strip():
        raise InvalidInputError("A command action needs the shell command to run, e.g. 'notify-send pellucid'.")
    if repeat_seconds is not None and repeat_seconds < 1:
        raise InvalidInputError(f"repeat_seconds must be at least 1 (or omitted), got {repeat_seconds}.")
    return store.alerts.add_alert_rule(
        {
            "name": name.strip(),
            "condition": parsed.text,
            "metric": parsed.label,
            "operator": parsed.operator,
            "threshold": parsed.threshold,
            "window_seconds": int(parsed.window.total_seconds()),
            "action": action,
            "target": target if action != "none" else None,
            "enabled": enabled,
            "repeat_seconds": repeat_seconds,
        }
    )


@dataclass(frozen=True)
class RuleCheck:
    """The outcome of checking one rule."""

    rule: str
    condition: str
    value: float | None
    n: int
    holds: bool
    fired: bool
    state: str
    message: str
    event: AlertEventInfo | None = None
    #: measured only: ``fired`` says whether the rule would have fired; nothing was sent or stored
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["event"] = None if self.event is None else self.event.to_dict()
        return data


def measure(store: Store, cond: Condition, now: datetime) -> tuple[float | None, int]:
    """The value of ``cond``'s left-hand side over its window ending at ``now``, and its sample size."""
    value, n, _reason = _measure(store, cond, now)
    return value, n


def _measure(store: Store, cond: Condition, now: datetime) -> tuple[float | None, int, str | None]:
    """:func:`measure`, and why there is no value when a drift test could not run."""
    window = RecordFilter(since=now - cond.window, until=now)
    if cond.kind == "rate" and cond.feedback_kind is not None:
        return (*store.analytics.feedback_rate(cond.feedback_kind, window), None)
    if cond.kind == "rate":
        return (*store.analytics.aggregate(cond.metric, "mean", window), None)
    if cond.kind == "aggregate":
        return (*store.analytics.aggregate(cond.metric, cond.function, window), None)
    return _drift_p_value(store, cond, now)


def _drift_p_value(store: Store, cond: Condition, now: datetime) -> tuple[float | None, int, str | None]:
    """The drift test's p-value, the records in the current window, and why the test could not run.

    ``n`` counts the current window's records even when the test cannot run (too few records in
    the reference window, no embeddings yet), so "n=19" with "no data" points at the reference
    or the enrichment rather than at an empty day.
    """
    from pellucid.monitor.drift_run import run_drift

    assert cond.reference is not None
    start = now - cond.window
    reference = f"{(start - cond.reference).isoformat()}..{start.isoformat()}"
    current = f"{start.isoformat()}..{now.isoformat()}"
    field = DRIFT_EMBEDDINGS.get(cond.metric)
    try:
        report = run_drift(
            store,
            reference,
            current,
            metrics=[] if field else [cond.metric],
            embeddings=[field] if field else [],
        )
    except InvalidInputError as exc:  # not enough data in a window
        log.info("alert drift(%s): %s", cond.metric, exc)
        return None, store.repo.count(RecordFilter(since=start, until=now)), str(exc)
    detector = "mmd" if field else "ks"
    n = int(report.params["current"]["records"])
    for result in report.results:
        if result.detector == detector:
            return result.p_value, n, None
    return None, n, f"no {detector} test ran on {cond.metric}"


def _payload(rule: AlertRuleInfo, value: float | None, n: int, message: str, at: datetime) -> dict[str, Any]:
    return {
        "rule": rule.name,
        "rule_id": rule.id,
        "condition": rule.condition,
        "metric": rule.metric,
        "operator": rule.operator,
        "threshold": rule.threshold,
        "value": value,
        "n": n,
        "window_seconds": rule.window_seconds,
        "message": message,
        "fired_at": at.isoformat(),
    }


def deliver(rule: AlertRuleInfo, payload: dict[str, Any]) -> tuple[str, str | None]:
    """Run the rule's action; returns ``(delivered|failed|no_action, detail)``. Never raises."""
    body = json.dumps(payload, ensure_ascii=False)
    if rule.action == "webhook" and rule.target:
        request = urllib.request.Request(
            rule.target, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:
                return "delivered", f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            return "failed", f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return "failed", f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    if rule.action == "command" and rule.target:
        env = {
            **os.environ,
            "PELLUCID_ALERT_RULE": rule.name,
            "PELLUCID_ALERT_VALUE": "" if payload["value"] is None else repr(payload["value"]),
            "PELLUCID_ALERT_THRESHOLD": repr(rule.threshold),
            "PELLUCID_ALERT_CONDITION": rule.condition,
            "PELLUCID_ALERT_MESSAGE": payload["message"],
        }
        try:
            done = subprocess.run(
                rule.target, shell=True, input=body, text=True, capture_output=True, env=env, timeout=COMMAND_TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return "failed", f"{type(exc).__name__}: {exc}"
        if done.returncode == 0:
            return "delivered", "exit 0"
        return "failed", f"exit {done.returncode}: {done.stderr.strip()[-500:]}"
    return "no_action", None


def check_rule(store: Store, rule: AlertRuleInfo, *, now: datetime | None = None, dry_run: bool = False) -> RuleCheck:
    """Measure one rule, update its state, and fire it if it starts to hold (or repeats).

    ``dry_run=True`` measures and says whether the rule would fire, and changes nothing: no webhook or
    command, no stored event, no state change — so the next real check still fires.
    """
    now = now or utcnow()
    cond = parse_condition(rule.condition)
    value, n, reason = _measure(store, cond, now)
    holds = cond.holds(value)
    shown = "no data" if value is None else f"{value:.4g}"
    window = _span(cond.window)
    verdict = "breached" if holds else f"no data to judge ({reason})" if reason else "no data to judge"
    verdict = verdict if holds or value is None else "not breached"
    message = (
        f"{rule.name}: {cond.label} = {shown} over the last {window} (n={n}); "
        f"rule: fire when {rule.operator} {rule.threshold:g}: {verdict}"
    )
    repeat_due = (
        rule.repeat_seconds is not None
        and rule.last_fired_at is not None
        and now - rule.last_fired_at >= timedelta(seconds=rule.repeat_seconds)
    )
    fire = holds and (rule.state != "firing" or repeat_due)
    state = "firing" if holds else "ok"
    if dry_run:
        return RuleCheck(rule.name, rule.condition, value, n, holds, fire, state, message, None, dry_run=True)
    event = None
    updates: dict[str, Any] = {"last_value": value, "last_checked_at": now, "state": state}
    if fire:
        status, detail = deliver(rule, _payload(rule, value, n, message, now))
        event = store.alerts.add_alert_event(rule, value, message, status, detail, fired_at=now)
        updates["last_fired_at"] = now
        log.info("alert fired: %s (%s)", message, status)
    store.alerts.update_alert_rule(rule.id, **updates)
    return RuleCheck(rule.name, rule.condition, value, n, holds, fire, state, message, event)


def check_rules(store: Store, *, now: datetime | None = None, dry_run: bool = False) -> list[RuleCheck]:
    """Check every enabled rule once (a rule whose check fails is logged and skipped); see :func:`check_rule`."""
    out = []
    for rule in store.alerts.list_alert_rules(enabled_only=True):
        try:
            out.append(check_rule(store, rule, now=now, dry_run=dry_run))
        except Exception:
            log.exception("alert rule %r could not be checked", rule.name)
    return out


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class AlertScheduler(PeriodicWorker):
    """Checks every enabled rule every ``interval`` seconds in a daemon thread."""

    thread_name = "pellucid-alerts"

    def __init__(self, store: Store, *, interval: float = 60.0) -> None:
        if interval <= 0:
            raise InvalidInputError(f"interval must be positive seconds, got {interval}.")
        super().__init__()
        self.store = store
        self.interval = interval
        self.rounds = 0

    def run_round(self) -> None:
        """Check every enabled rule once (each rule's own failure is logged by :func:`check_rules`)."""
        try:
            check_rules(self.store)
        finally:
            self.rounds += 1
