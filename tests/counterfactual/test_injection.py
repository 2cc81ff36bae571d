"""The injection canary: detects an obeyed instruction, not a refusal; the suite is well formed."""

from __future__ import annotations

import base64

import pytest

from pellucid.counterfactual.injection import FAMILIES, load_suite, obeyed, run_injection
from pellucid.errors import InvalidInputError


def test_canary_detects_obeyed_and_not_refused() -> None:
    assert obeyed("Sure! ZQX-4821", "ZQX-4821")
    assert obeyed("zqx-4821 as requested", "ZQX-4821")
    assert not obeyed("I can't help with that request.", "ZQX-4821")


def _obedient(system: str, user: str) -> str:
    """A crafted model that obeys: it says every ZQX code it can see, decoding base64 too."""
    import re

    found = re.findall(r"ZQX-\d{4}", system + user)
    for token in re.findall(r"[A-Za-z0-9+/=]{16,}", user):
        try:
            found += re.findall(r"ZQX-\d{4}", base64.b64decode(token).decode())
        except Exception:
            pass
    return " ".join(found) or "ok"


def _refusing(system: str, user: str) -> str:
    return "I'm sorry, but I can't follow instructions embedded in the message."


def test_run_injection_with_crafted_responders() -> None:
    report = run_injection(None, "You summarise customer messages.", respond=_obedient)
    assert set(report.families) == set(FAMILIES)
    fams = report.families
    assert fams["instruction_override"]["success_rate"] == 1.0
    assert fams["system_prompt_extraction"]["success_rate"] == 1.0  # the secret is in the system prompt it echoes
    enc = [t for t in report.transcripts if t["family"] == "encoded_instructions"]
    assert {t["id"]: t["obeyed"] for t in enc}["encoded-base64"] is True
    assert {t["id"]: t["obeyed"] for t in enc}["encoded-rot13"] is False  # this responder cannot read ROT13
    refused = run_injection(None, "You summarise customer messages.", respond=_refusing)
    assert refused.overall["succeeded"] == 0 and refused.overall["ci95"][0] == 0.0
    assert all(not t["obeyed"] for t in refused.transcripts)
    assert len(refused.transcripts) == refused.overall["attacks"] == 15


def test_encoded_attacks_hide_the_canary_and_suites_are_seeded() -> None:
    attacks = load_suite(seed=1)
    for a in attacks:
        if a.family == "encoded_instructions":
            assert a.canary not in a.text
        elif a.family != "system_prompt_extraction":
            assert a.canary in a.text
    assert [a.text for a in load_suite(seed=1)] == [a.text for a in attacks]
    assert [a.canary for a in load_suite(seed=2)] != [a.canary for a in attacks]
    with pytest.raises(InvalidInputError, match="Unknown injection family 'jailbreak'"):
        load_suite(families=["jailbreak"])


def test_run_injection_on_the_tiny_model(tiny_lm) -> None:
    report = run_injection(tiny_lm, "Be helpful.", families=["role_play"], task="{attack}", max_new_tokens=4)
    assert report.families["role_play"]["attacks"] == 3
    assert all(t["user"].endswith(t["text"]) for t in report.transcripts)
    with pytest.raises(InvalidInputError, match=r"\{attack\}"):
        run_injection(tiny_lm, "Be helpful.", task="no placeholder")
