"""The regex + checksum PII detector: true positives, and look-alikes it must leave alone."""

from __future__ import annotations

import pytest

from pellucid.audit.pii import KINDS, Match, find_pii, iban_valid, luhn_valid, redact


@pytest.mark.parametrize(
    ("text", "kind", "found"),
    [
        ("write to bob.smith+news@mail.example.co.uk today", "EMAIL", "bob.smith+news@mail.example.co.uk"),
        ("call +44 20 7946 0958 now", "PHONE", "+44 20 7946 0958"),
        ("call (555) 123-4567", "PHONE", "(555) 123-4567"),
        ("call 555-123-4567.", "PHONE", "555-123-4567"),
        ("tel +1-555-123-4567", "PHONE", "+1-555-123-4567"),
        ("card 4111 1111 1111 1111 exp 12/29", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("card 5555555555554444", "CREDIT_CARD", "5555555555554444"),
        ("amex 3782-822463-10005", "CREDIT_CARD", "3782-822463-10005"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN", "DE89 3704 0044 0532 0130 00"),
        ("pay GB82WEST12345698765432", "IBAN", "GB82WEST12345698765432"),
        ("from 192.168.1.20, then", "IPV4", "192.168.1.20"),
        ("host 2001:db8::8a2e:370:7334 up", "IPV6", "2001:db8::8a2e:370:7334"),
        ("link fe80::1ff:fe23:4567:890a.", "IPV6", "fe80::1ff:fe23:4567:890a"),
        ("mapped ::ffff:192.0.2.128 here", "IPV6", "::ffff:192.0.2.128"),
        ("SSN 123-45-6789.", "US_SSN", "123-45-6789"),
    ],
)
def test_true_positives(text, kind, found):
    [match] = find_pii(text)
    assert (match.kind, match.text) == (kind, found)
    assert text[match.start : match.end] == found


@pytest.mark.parametrize(
    "text",
    [
        "order 1234567812345678 shipped",  # 16 digits failing Luhn
        "card 4111 1111 1111 1112",  # one digit off: Luhn fails
        "zeros 0000 0000 0000 0000",  # passes Luhn, but not a card
        "bad IBAN GB82 WEST 1234 5698 7654 33",  # mod-97 fails
        "DE89 3704 0044 0532 0130",  # right checksum shape, wrong length for DE
        "released 2026-12-01 at 23:22:45",  # a date and a time
        "on 12/31/2024",
        "version 3.12.1, v1.2.3.4, 1.2.3.4.5 and 10.0.0.256",  # versions; 256 is no octet
        "std::vector and a::b and 12:30:45",
        "mac 00:1A:2B:3C:4D:5E",
        "ssn-like 000-12-3456, 666-12-3456, 923-45-6789, 123-00-4567, 123-45-0000",
        "a big number 123456789 and a price of $1,234,567.89",
        "user@localhost has no top-level domain",
        "ISBN 978-3-16-148410-0",
    ],
)
def test_look_alikes_are_not_pii(text):
    assert find_pii(text) == []


def test_overlaps_resolve_to_the_validated_kind():
    # the card number also has the shape of an international phone number
    assert [m.kind for m in find_pii("+4111 1111 1111 1111")] == ["CREDIT_CARD"]
    # an e-mail whose local part holds digits is one e-mail, not a phone number
    assert [m.kind for m in find_pii("555-123-4567@example.com")] == ["EMAIL"]


def test_redact_replaces_and_counts():
    text = "Mail a@b.io or a@b.io, card 4111-1111-1111-1111, ip 10.0.0.1"
    assert redact(text) == (
        "Mail [EMAIL] or [EMAIL], card [CREDIT_CARD], ip [IPV4]",
        {"EMAIL": 2, "CREDIT_CARD": 1, "IPV4": 1},
    )
    assert redact("nothing to see") == ("nothing to see", {})


def test_matches_are_sorted_and_restricted_by_kind():
    text = "x@y.com 10.0.0.1 x@y.com"
    assert find_pii(text) == [
        Match("EMAIL", 0, 7, "x@y.com"),
        Match("IPV4", 8, 16, "10.0.0.1"),
        Match("EMAIL", 17, 24, "x@y.com"),
    ]
    assert [m.kind for m in find_pii(text, kinds=("IPV4",))] == ["IPV4"]
    with pytest.raises(KeyError, match="Unknown PII kind: 'NAME'. Available: "):
        find_pii(text, kinds=("NAME",))
    assert set(KINDS) == {"EMAIL", "IBAN", "CREDIT_CARD", "US_SSN", "IPV6", "IPV4", "PHONE"}


def test_checksums():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("DE89 3704 0044 0532 0130 00") and not iban_valid("DE88 3704 0044 0532 0130 00")
    assert not iban_valid("ZZ89 3704 0044 0532 0130 00")  # no such country
