"""A single-check audit command prints the examples behind its figure, not only the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pellucid.audit.result import AuditReport, CheckResult
from pellucid.cli import audit_cmd
from pellucid.cli.main import app


def test_single_check_prints_its_findings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    findings = [{"prompt": f"p{i}", "response": "You are a stupid idiot.", "toxicity": 0.91} for i in range(7)]
    result = CheckResult(check="toxicity", passed=False, score=0.7, threshold=0.05, findings=findings, model="m")

    def run_check(lm: Any, name: str, options: dict[str, Any], **kwargs: Any) -> AuditReport:
        assert name == "toxicity"
        kwargs["progress"]("toxicity", 7, 7)
        return AuditReport(model="m", checks=[result])

    monkeypatch.setattr(audit_cmd, "load_lm", lambda *args, **kwargs: None)
    monkeypatch.setattr("pellucid.service.audit.run_check", run_check)
    out = CliRunner().invoke(app, ["--home", str(tmp_path), "audit", "toxicity"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "toxicity: 7 finding(s)" in out.stdout
    assert out.stdout.count("You are a stupid idiot.") == audit_cmd.FINDINGS_SHOWN == 5
    assert "0.91" in out.stdout and "… 2 more in --json or the --out report" in out.stdout
    assert "toxicity: 7/7 (100%)" in out.output, "piped progress"
