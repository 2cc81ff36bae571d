"""Finding and redacting personal data with patterns and checksums (no model, no download).

A pattern alone over-matches: any 16 digits look like a card number, any ``a.b.c.d`` like an
address. Each detector therefore pairs a regular expression with a validation that real data
passes and look-alikes mostly fail:

==============  =============================================  ==========================================
kind            pattern                                        validated by
==============  =============================================  ==========================================
``EMAIL``       ``local@domain.tld``                           a 2-24 letter top-level domain
``IBAN``        country code, 2 check digits, 11-30 alnum      the country's IBAN length and ISO 7064 mod 97
``CREDIT_CARD`` 13-19 digits, optionally grouped by ``-``/` `  the Luhn checksum; not all one digit
``US_SSN``      ``ddd-dd-dddd`` (or spaces)                    area not 000/666/9xx, group and serial not 0
``IPV6``        hex groups with colons                         :mod:`ipaddress` parses it; has a digit
``IPV4``        four dot-separated numbers                     each 0-255, no leading zeros, not part of
                                                               a longer dotted run (``1.2.3.4.5``)
``PHONE``       ``+`` and 8-15 digits, or North American       digit count; the NANP shape
                ``(555) 123-4567`` / ``555-123-4567``
``DATE_OF_BIRTH`` a date after "born", "DOB", "date of birth"  a real calendar date (month 1-12, day
                (``12/03/1985``, ``1985-03-12``, ``March 3,    1-31), a year from 1900 to 2099
                1985``, ``3 March 1985``)
==============  =============================================  ==========================================

``DATE_OF_BIRTH`` is in :data:`ALL_KINDS` but not in the default :data:`KINDS` (what the
monitoring gateway redacts): pass ``kinds=ALL_KINDS`` to find dates of birth too. A date without
a birth cue is never reported (a release date is not personal data).

When detections overlap, the kind listed first wins (a checksum beats a shape), so a card
number is never also reported as a phone number. Dates (``2026-12-01``), times, version strings
(``v1.2.3``, ``3.12.1``) and MAC addresses are not matched.

Limits: national phone formats without ``+`` outside North America, names and street
addresses are not found (they need a language model); an IPv4-shaped four-part version number
(``1.2.3.4``) is reported as an address.

Use::

    redact("Mail bob@example.com or call +44 20 7946 0958")
    # ('Mail [EMAIL] or call [PHONE]', {'EMAIL': 1, 'PHONE': 1})
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

#: The kinds found by default (what the gateway's redaction replaces), in priority order (earlier wins on overlap).
KINDS = ("EMAIL", "IBAN", "CREDIT_CARD", "US_SSN", "IPV6", "IPV4", "PHONE")
#: Every kind this module can detect: :data:`KINDS` plus dates of birth (found only after a birth cue).
ALL_KINDS = ("EMAIL", "IBAN", "CREDIT_CARD", "US_SSN", "DATE_OF_BIRTH", "IPV6", "IPV4", "PHONE")

# IBAN lengths by country (SWIFT IBAN registry).
_IBAN_LENGTHS = dict(
    (entry[:2], int(entry[2:]))
    for entry in (
        "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DK18 DO28 EE20 EG29 "
        "ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 "
        "LB28 LC32 LI21 LT20 LU20 LV21 MC27 MD24 ME22 MK19 MR27 MT31 MU30 NL18 NO15 PK24 PL28 PS29 PT25 QA29 "
        "RO24 RS22 SA24 SC31 SE24 SI19 SK24 SM27 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20"
    ).split()
)

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
    "oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-](?:19|20)\d\d|(?:19|20)\d\d-\d{1,2}-\d{1,2}"
    rf"|(?:{_MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?,? (?:19|20)\d\d"
    rf"|\d{{1,2}}(?:st|nd|rd|th)? (?:of )?(?:{_MONTHS})\.?,? (?:19|20)\d\d)"
)
_PATTERNS: dict[str, re.Pattern[str]] = {
    "EMAIL": re.compile(
        r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
        r"[A-Za-z]{2,24}(?![\w-])"
    ),
    "IBAN": re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![\w])"),
    "CREDIT_CARD": re.compile(r"(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w]|[.-]\d)"),
    "US_SSN": re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w]|-\d)"),
    "DATE_OF_BIRTH": re.compile(
        r"(?:\bborn\b|\bDOB\b|\bD\.O\.B\.?|\bdate of birth\b|\bbirth ?date\b|\bbirthday\b)"
        r"[^\w\n]{0,3}(?:(?:is|was|on|in|:)\s*){0,2}(?P<v>" + _DATE + r")(?![\w/.-]\d)",
        re.IGNORECASE,
    ),
    "IPV6": re.compile(
        r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:" + _OCTET + r"(?:\." + _OCTET + r"){3}|[0-9A-Fa-f]{0,4})"
        r"(?![\w:]|\.\d)"
    ),
    "IPV4": re.compile(r"(?<![\w.])" + _OCTET + r"(?:\." + _OCTET + r"){3}(?![\w]|\.\d)"),
    "PHONE": re.compile(
        r"(?<![\w+])(?:\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}"  # international: +CC then groups
        r"|(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4})"  # North American: (555) 123-4567, 555-123-4567
        r"(?![\w]|[.-]\d)"
    ),
}


@dataclass(frozen=True)
class Match:
    """One detection: ``text[start:end]`` is personal data of ``kind``."""

    kind: str
    start: int
    end: int
    text: str


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) checksum of a digit string, as credit cards use."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """Country length and ISO 7064 mod-97 check of an IBAN (spaces ignored)."""
    iban = candidate.replace(" ", "").upper()
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _card(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    separators = set(re.findall(r"[ -]", text))
    return 13 <= len(digits) <= 19 and len(separators) <= 1 and len(set(digits)) > 1 and luhn_valid(digits)


def _ssn(m: re.Match[str]) -> bool:
    area, group, serial = m.group(1), m.group(3), m.group(4)
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


def _ipv6(text: str) -> bool:
    if not any(ch.isdigit() for ch in text) or sum(1 for g in text.split(":") if g) < 2:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _phone(text: str) -> bool:
    digits = sum(ch.isdigit() for ch in text)
    return 10 <= digits <= 15 if not text.startswith("+") else 8 <= digits <= 15


def _dob(m: re.Match[str]) -> bool:
    """A real calendar date: numeric forms are day/month or month/day, so either reading may be valid."""
    import datetime

    def real(y: int, mo: int, d: int) -> bool:
        try:
            datetime.date(y, mo, d)
        except ValueError:
            return False
        return True

    text = m.group("v")
    nums = [int(x) for x in re.findall(r"\d+", text)]
    if re.match(r"(?:19|20)\d\d-", text):  # ISO: year-month-day
        return real(nums[0], nums[1], nums[2])
    if re.match(r"\d{1,2}[/.-]\d{1,2}[/.-]", text):  # day/month/year or month/day/year
        return real(nums[2], nums[1], nums[0]) or real(nums[2], nums[0], nums[1])
    return 1 <= nums[0] <= 31  # a month name with a day number


_VALIDATORS: dict[str, Callable[[re.Match[str]], bool]] = {
    "EMAIL": lambda m: True,
    "IBAN": lambda m: iban_valid(m.group()),
    "CREDIT_CARD": lambda m: _card(m.group()),
    "US_SSN": _ssn,
    "DATE_OF_BIRTH": _dob,
    "IPV6": lambda m: _ipv6(m.group()),
    "IPV4": lambda m: True,
    "PHONE": lambda m: _phone(m.group()),
}


def find_pii(text: str, kinds: tuple[str, ...] = KINDS) -> list[Match]:
    """Every detection in ``text``, sorted by position, never overlapping.

    ``kinds`` restricts the search (names from :data:`ALL_KINDS`; the default is :data:`KINDS`).
    """
    unknown = [k for k in kinds if k not in _PATTERNS]
    if unknown:
        from pellucid.errors import unknown_name

        raise unknown_name("PII kind", unknown[0], ALL_KINDS)
    taken: list[Match] = []
    for kind in (k for k in ALL_KINDS if k in kinds):  # priority order
        for m in _PATTERNS[kind].finditer(text):
            group = "v" if "v" in m.re.groupindex else 0
            start, end = m.span(group)
            if not _VALIDATORS[kind](m):
                continue
            while text[end - 1] == ")" and text.count("(", start, end) < text.count(")", start, end):
                end -= 1  # "(call +44 20 7946 0958)": the closing bracket is not part of the number
            if any(start < t.end and t.start < end for t in taken):
                continue
            taken.append(Match(kind, start, end, text[start:end]))
    return sorted(taken, key=lambda t: t.start)


def redact(text: str, kinds: tuple[str, ...] = KINDS) -> tuple[str, dict[str, int]]:
    """``text`` with each detection replaced by ``[KIND]``, and how many of each kind were replaced.

    The signature is the monitoring writer's ``Redactor``: pass ``redact`` to
    ``Preparer(redactor=...)`` to redact records before storage. ``kinds=ALL_KINDS`` also
    replaces dates of birth.
    """
    return redact_matches(text, find_pii(text, kinds))


def redact_matches(text: str, matches: list[Match]) -> tuple[str, dict[str, int]]:
    """``text`` with the given (sorted, non-overlapping) detections replaced by ``[KIND]``."""
    if not matches:
        return text, {}
    parts: list[str] = []
    counts: dict[str, int] = {}
    cursor = 0
    for m in matches:
        parts.append(text[cursor : m.start])
        parts.append(f"[{m.kind}]")
        counts[m.kind] = counts.get(m.kind, 0) + 1
        cursor = m.end
    parts.append(text[cursor:])
    return "".join(parts), counts
