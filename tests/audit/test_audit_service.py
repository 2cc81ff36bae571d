"""The audit verb shared by the API and the CLI: run the checks, keep the report in the store once."""

from __future__ import annotations

import uuid

import pytest

from pellucid.errors import InvalidInputError
from pellucid.monitor import Store
from pellucid.service.audit import check_names, check_options, run_audit, suites

QUICK = {"toxicity": {"limit": 2, "max_new_tokens": 4}}


def test_the_report_is_kept_under_the_given_id_and_a_failed_save_keeps_it_in_memory(tiny_lm, settings, tmp_path):
    report_id = str(uuid.uuid4())
    with Store.open(f"sqlite:///{tmp_path / 'monitor.db'}") as store:
        run = run_audit(tiny_lm, ["toxicity"], options=QUICK, settings=settings, store=store, report_id=report_id)
        assert run.stored_id == report_id and run.store_error is None
        (kept,) = store.reports.list_audit_reports()
        assert kept.id == report_id and kept.report == run.report.to_dict()
        again = run_audit(tiny_lm, ["toxicity"], options=QUICK, settings=settings, store=store, report_id=report_id)
        assert again.stored_id is None and again.store_error  # the id is taken: the store refuses it
        assert [c.check for c in again.report.checks] == ["toxicity"] and again.report.model == tiny_lm.name
        assert len(store.reports.list_audit_reports()) == 1
    alone = run_audit(tiny_lm, ["toxicity"], options=QUICK, settings=settings)
    assert alone.stored_id is None and alone.store_error is None


def test_checks_and_options_of_a_request() -> None:
    assert check_names(suite="default") == suites()["default"]
    assert check_names(["pii", "bias", "pii"]) == ["pii", "bias"]
    assert check_options(["bias"], {"bias": {"top_k": "2"}}) == {"bias": {"top_k": 2}}
    with pytest.raises(InvalidInputError, match="not both"):
        check_names(["pii"], "default")
    with pytest.raises(InvalidInputError, match="not among the checks run: bias"):
        check_options(["bias"], {"pii": {}})
