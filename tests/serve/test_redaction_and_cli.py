"""PII redaction before storage (PELLUCID_REDACT_PII) and the store wired into ``pellucid serve``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.serve.conftest import make_gateway

SECRET = "Mail bob@example.com, card 4111 1111 1111 1111, from 192.168.1.20"


@pytest.fixture()
def redacting(tiny_lm, settings, tmp_path):
    yield from make_gateway(tiny_lm, settings, f"sqlite:///{tmp_path / 'pii.db'}", redact_pii=True)


def test_prompts_are_redacted_before_storage(redacting):
    res = redacting.chat(SECRET, metadata={"contact": "call +44 20 7946 0958"}, max_tokens=3)
    assert res.status_code == 200
    [record] = redacting.records()
    assert record.prompt == [{"role": "user", "content": "Mail [EMAIL], card [CREDIT_CARD], from [IPV4]"}]
    assert record.prompt_text == "Mail [EMAIL], card [CREDIT_CARD], from [IPV4]"
    assert record.redaction["applied"] is True
    assert record.redaction["prompt"] == {"EMAIL": 1, "CREDIT_CARD": 1, "IPV4": 1}
    assert record.redaction["response"] == {}
    assert record.metadata["contact"] == "call [PHONE]"
    assert record.metadata["gateway"]["redacted"] == {"metadata": {"PHONE": 1}}


def test_errors_are_redacted_too(redacting):
    stops = ["bob@example.com"] * 5  # too many: the error message quotes them
    res = redacting.client.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": SECRET}], "stop": stops}
    )
    assert res.status_code == 400 and "bob@example.com" in res.json()["error"]["message"]  # the client sees its input
    [record] = redacting.records()
    assert "bob@example.com" not in str(record.to_dict()) and "4111" not in str(record.to_dict())
    assert record.redaction["prompt"] == {"EMAIL": 1, "CREDIT_CARD": 1, "IPV4": 1}
    assert "[EMAIL]" in record.error and record.metadata["gateway"]["redacted"] == {"error": {"EMAIL": 5}}


def test_settings_read_the_flag():
    from pellucid.errors import InvalidInputError
    from pellucid.settings import Settings

    assert Settings.from_env({"PELLUCID_REDACT_PII": "1"}).redact_pii is True
    assert Settings.from_env({"PELLUCID_REDACT_PII": "off"}).redact_pii is False
    assert Settings.from_env({}).redact_pii is False
    with pytest.raises(InvalidInputError, match="PELLUCID_REDACT_PII='maybe'"):
        Settings.from_env({"PELLUCID_REDACT_PII": "maybe"})


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql+psycopg://pellucid:s3cret-pw@127.0.0.1:1/db", "127.0.0.1"),
        ("mysql://pellucid:s3cret-pw@localhost/db", "'mysql' databases are not supported"),
        ("not a url", "not a database URL"),
    ],
)
def test_serve_fails_at_start_on_a_bad_store(url, reason, tmp_path, monkeypatch):
    from pellucid.cli.main import app

    monkeypatch.setenv("PELLUCID_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["serve", "--no-preload", "--database-url", url])
    output = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "Cannot open the monitoring store" in output and reason in output
    assert "s3cret-pw" not in output
    if "://pellucid" in url:
        assert "pellucid:***@" in output
