"""Alert rules and the events they fire (``pellucid monitor alerts``, ``/api/alerts``); ``store.alerts``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from pellucid.errors import InvalidInputError
from pellucid.monitor import sql
from pellucid.monitor.analytics_records import AlertEventInfo, AlertRuleInfo
from pellucid.monitor.db import AlertEvent, AlertRule
from pellucid.monitor.records import new_id, utcnow
from pellucid.monitor.repository_base import NotFoundError, Repository, is_uuid

alert_rules: Table = AlertRule.__table__  # type: ignore[assignment]
alert_events: Table = AlertEvent.__table__  # type: ignore[assignment]


class AlertRepository(Repository):
    """Rules by id or name, their state, and the history of fired events."""

    def add_alert_rule(self, values: dict[str, Any]) -> AlertRuleInfo:
        """Store a rule (``values``: the ``alert_rules`` columns except ids and state)."""
        row = {"id": new_id(), "created_at": utcnow(), "state": "ok", "enabled": True, **values}
        try:
            with self._write() as conn, conn.begin():
                conn.execute(alert_rules.insert(), [row])
        except IntegrityError:
            raise InvalidInputError(
                f"An alert rule named {values.get('name')!r} already exists; remove it first or choose another name."
            ) from None
        return self.get_alert_rule(row["id"])

    def list_alert_rules(self, *, enabled_only: bool = False) -> list[AlertRuleInfo]:
        stmt = select(alert_rules).order_by(alert_rules.c.name)
        if enabled_only:
            stmt = stmt.where(alert_rules.c.enabled.is_(True))
        with self.engine.connect() as conn:
            return [AlertRuleInfo(**r._mapping) for r in conn.execute(stmt)]

    def _rule_condition(self, rule: str) -> Any:
        return (
            or_(alert_rules.c.id == sql.check_id(rule), alert_rules.c.name == rule)
            if is_uuid(rule)
            else (alert_rules.c.name == rule)
        )

    def get_alert_rule(self, rule: str) -> AlertRuleInfo:
        """A rule by id or name."""
        with self.engine.connect() as conn:
            row = conn.execute(select(alert_rules).where(self._rule_condition(rule))).first()
            if row is None:
                stmt = select(alert_rules.c.name).order_by(alert_rules.c.name)
                names: Sequence[str] = conn.execute(stmt).scalars().all()
                raise NotFoundError(f"No alert rule {rule!r}. Rules: {', '.join(names) or '(none)'}.")
        return AlertRuleInfo(**row._mapping)

    def remove_alert_rule(self, rule: str) -> AlertRuleInfo:
        """Delete a rule by id or name (its events stay in the history); returns what was removed."""
        found = self.get_alert_rule(rule)
        with self._write() as conn, conn.begin():
            conn.execute(delete(alert_rules).where(alert_rules.c.id == found.id))
        return found

    def update_alert_rule(self, rule_id: str, **values: Any) -> None:
        """Set columns of one rule (state, last_value, last_checked_at, last_fired_at, enabled...)."""
        with self._write() as conn, conn.begin():
            conn.execute(update(alert_rules).where(alert_rules.c.id == sql.check_id(rule_id)).values(**values))

    def add_alert_event(
        self,
        rule: AlertRuleInfo,
        value: float | None,
        message: str,
        status: str,
        detail: str | None,
        fired_at: datetime | None = None,
    ) -> AlertEventInfo:
        row: dict[str, Any] = {
            "id": new_id(),
            "rule_id": rule.id,
            "rule_name": rule.name,
            "fired_at": fired_at or utcnow(),
            "value": value,
            "message": sql.clean_text(message),
            "delivery_status": status,
            "delivery_detail": None if detail is None else sql.clean_text(detail)[:4000],
        }
        with self._write() as conn, conn.begin():
            conn.execute(alert_events.insert(), [row])
        return AlertEventInfo(**row)

    def alert_history(self, rule: str | None = None, *, limit: int = 100) -> list[AlertEventInfo]:
        """Events, newest first; ``rule`` (id or name) keeps one rule's."""
        stmt = select(alert_events).order_by(alert_events.c.fired_at.desc(), alert_events.c.id.desc()).limit(limit)
        if rule is not None:
            cond = alert_events.c.rule_name == rule
            if is_uuid(rule):
                cond = or_(cond, alert_events.c.rule_id == sql.check_id(rule))
            stmt = stmt.where(cond)
        with self.engine.connect() as conn:
            return [AlertEventInfo(**r._mapping) for r in conn.execute(stmt)]
