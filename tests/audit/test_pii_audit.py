"""PII detection measured on a labelled set (recall and precision), Presidio offline, the leakage probe."""

from __future__ import annotations

import pytest

from pellucid.audit import pii_presidio
from pellucid.audit.pii import ALL_KINDS, KINDS, find_pii, redact
from pellucid.audit.pii_check import CUSTOMER, PROBES, build_detector, leaked_values, pii_audit
from tests.audit.conftest import StubLM

# (text, [(kind, value)]): every listed kind, several formats each
POSITIVES = [
    ("Mail jane.doe@example.com today", [("EMAIL", "jane.doe@example.com")]),
    ("reach me at ops-team+alerts@mail.example.org.", [("EMAIL", "ops-team+alerts@mail.example.org")]),
    ("Call +1 415 555 0132 after six", [("PHONE", "+1 415 555 0132")]),
    ("office: (212) 555-0198", [("PHONE", "(212) 555-0198")]),
    ("Visa 4111 1111 1111 1111 on file", [("CREDIT_CARD", "4111 1111 1111 1111")]),
    ("mastercard 5500-0000-0000-0004", [("CREDIT_CARD", "5500-0000-0000-0004")]),
    ("IBAN GB82 WEST 1234 5698 7654 32 please", [("IBAN", "GB82 WEST 1234 5698 7654 32")]),
    ("pay to FR1420041010050500013M02606", [("IBAN", "FR1420041010050500013M02606")]),
    ("login from 203.0.113.45 blocked", [("IPV4", "203.0.113.45")]),
    ("v6 peer 2001:db8:85a3::8a2e:370:7334 seen", [("IPV6", "2001:db8:85a3::8a2e:370:7334")]),
    ("SSN 078-05-1120 on the form", [("US_SSN", "078-05-1120")]),
    ("She was born on 14/07/1986 in Leeds", [("DATE_OF_BIRTH", "14/07/1986")]),
    ("DOB: 1979-02-28", [("DATE_OF_BIRTH", "1979-02-28")]),
    ("date of birth: March 3, 1990", [("DATE_OF_BIRTH", "March 3, 1990")]),
    (
        "Jane (jane@example.org, +44 20 7946 0958) paid with 378282246310005",
        [("EMAIL", "jane@example.org"), ("PHONE", "+44 20 7946 0958"), ("CREDIT_CARD", "378282246310005")],
    ),
]
# near-misses: one digit off a checksum, impossible dates, look-alikes
NEGATIVES = [
    "Visa 4111 1111 1111 1112 on file",  # Luhn fails
    "IBAN GB82 WEST 1234 5698 7654 33 please",  # mod 97 fails
    "pay to FR1420041010050500013M02607",  # mod 97 fails
    "SSN 000-12-3456 and 666-45-6789",  # impossible areas
    "born on 31/02/1986, or so he claims",  # no 31 February
    "released on 14/07/1986",  # a date with no birth cue
    "version 10.0.0.256 and build 3.12.1",
    "order number 1234 5678 9012 3456",  # Luhn fails
    "call extension 5555",
    "write to support at example dot com",
]


def _scores(detect) -> tuple[float, float, dict[str, int]]:
    tp = fp = fn = 0
    found_kinds: dict[str, int] = {}
    for text, expected in POSITIVES:
        got = {(m.kind, m.text) for m in detect(text)}
        tp += len(got & set(expected))
        fn += len(set(expected) - got)
        fp += len(got - set(expected))
        for kind, _ in got & set(expected):
            found_kinds[kind] = found_kinds.get(kind, 0) + 1
    for text in NEGATIVES:
        fp += len(detect(text))
    return tp / (tp + fn), tp / (tp + fp), found_kinds


def test_regex_detector_recall_and_precision_on_the_labelled_set():
    recall, precision, kinds = _scores(lambda t: find_pii(t, ALL_KINDS))
    assert recall == 1.0 and precision == 1.0
    assert set(kinds) == set(ALL_KINDS)  # every listed type found


def test_default_kinds_and_redaction_stay_as_the_gateway_expects():
    assert "DATE_OF_BIRTH" not in KINDS
    assert find_pii("born on 14/07/1986") == []
    assert redact("born on 14/07/1986", ALL_KINDS) == ("born on [DATE_OF_BIRTH]", {"DATE_OF_BIRTH": 1})


@pytest.fixture(scope="module")
def presidio_detector(tmp_path_factory):
    if not pii_presidio.available():
        pytest.skip("presidio-analyzer / spaCy not installed (pip install 'pellucid[audit]')")
    return build_detector(tmp_path_factory.mktemp("home"), backend="presidio")


def test_presidio_offline_with_a_blank_pipeline(presidio_detector, tmp_path):
    blank = presidio_detector.presidio
    assert not blank.has_ner and "Person names are not detected" in presidio_detector.limits[0]
    recall, precision, _ = _scores(presidio_detector.find)
    assert recall == 1.0 and precision >= 0.9
    # Presidio adds what the regexes lack: national phone numbers without '+'
    extra = presidio_detector.find("ring our London office on 020 7946 0958 today")
    assert [m.kind for m in extra] == ["PHONE"]


def test_leakage_probe_counts_repeated_values():
    leaky = StubLM(answer=f"Sure! The card is {CUSTOMER['card'].replace(' ', '')} and mail {CUSTOMER['email']}.")
    result = pii_audit(leaky, detector=build_detector(backend="regex"))
    assert result.score == 1.0 and result.passed is False
    assert result.metrics["leak_rate"]["n"] == len(PROBES)
    assert sorted(result.findings[0]["leaked"]) == ["card", "email"]
    assert "[CREDIT_CARD]" in result.findings[0]["response_redacted"]
    assert any("Person names" in x for x in result.limits)
    careful = StubLM(answer="The customer's parcel arrived damaged; a refund is on its way.")
    assert pii_audit(careful).score == 0.0


def test_prompts_and_generations_are_scanned():
    result = pii_audit(None, ["my ip is 10.1.2.3", "hello"], generations=["noted 10.1.2.3", "hi"], probe=False)
    assert result.metrics["pii_in_prompts"] == {"IPV4": 1} and result.metrics["pii_in_generations"] == {"IPV4": 1}
    assert result.findings[0]["generation_redacted"] == "noted [IPV4]"
    assert leaked_values("digits 4111111111111111") == ["card"]
