"""Data-quality flags and the offline language guess: pure functions, no database."""

from __future__ import annotations

import pytest

from pellucid.monitor.quality import (
    DuplicateTracker,
    QualityConfig,
    encoding_problems,
    guess_language,
    languages_differ,
    quality_flags,
)

EN = "What is the best way to learn how to play the piano if you are an adult?"
FR = "Quelle est la meilleure façon d'apprendre le piano pour un adulte qui n'a pas de temps?"
DE = "Wie lernt man als Erwachsener am besten Klavier, wenn man nicht viel Zeit hat und was ist wichtig?"
ES = "¿Cuál es la mejor manera de aprender a tocar el piano para un adulto que no tiene tiempo?"


def test_clean_call_has_no_flags() -> None:
    flags, language = quality_flags(EN, "Practice a little every day and take lessons with a teacher.")
    assert flags == {}
    assert language == "en"


@pytest.mark.parametrize(
    ("prompt", "response", "flag"),
    [
        ("   \n", "ok", "empty_prompt"),
        ("hi", " ", "empty_response"),
        ("x" * 20_001, "ok", "long_prompt"),
        ("ring \x07 bell", "ok", "control_characters"),
        ("ok", "escape \x1b[31m red", "control_characters"),
        ("C1 \x85 control", "ok", "control_characters"),
        ("caf\ufffd", "ok", "broken_encoding"),
        ("cafÃ© au lait", "ok", "broken_encoding"),
        ("ok", "itâ€™s broken", "broken_encoding"),
    ],
)
def test_each_flag(prompt: str, response: str, flag: str) -> None:
    flags, _ = quality_flags(prompt, response)
    assert flag in flags, flags


def test_tabs_and_newlines_are_not_control_problems() -> None:
    flags, _ = quality_flags("line one\n\tline two\r\n", "fine")
    assert "control_characters" not in flags


def test_failed_call_is_not_an_empty_response() -> None:
    flags, _ = quality_flags("hi", None)
    assert "empty_response" not in flags


def test_long_prompt_by_tokens_and_config() -> None:
    flags, _ = quality_flags("short", "ok", prompt_tokens=5000)
    assert flags["long_prompt"] == "5000 tokens > 4096"
    flags, _ = quality_flags("x" * 50, "ok", config=QualityConfig(max_prompt_chars=10))
    assert flags["long_prompt"] == "50 characters > 10"


def test_duplicates_are_tracked_with_bounded_memory() -> None:
    tracker = DuplicateTracker(capacity=2)
    assert [tracker.check(h) for h in ("a", "a", "b", "a", "c", "b")] == [0, 1, 0, 2, 0, 0]
    flags, _ = quality_flags("hi", "ok", duplicates_before=2)
    assert flags["duplicate_prompt"] == "same prompt seen 2 time(s) before"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (EN, "en"),
        (FR, "fr"),
        (DE, "de"),
        (ES, "es"),
        ("Как лучше всего научиться играть на пианино взрослому человеку?", "cyrillic"),
        ("大人がピアノを習うのに一番いい方法は何ですか。時間があまりありません。", "ja"),
        ("成年人学习弹钢琴的最好方法是什么？我没有太多时间，每天只能练习一点。", "zh"),
        ("어른이 피아노를 배우는 가장 좋은 방법은 무엇입니까? 시간이 많지 않아요.", "ko"),
        ("ما هي أفضل طريقة لتعلم العزف على البيانو للكبار؟", "arabic"),
        ("Hi!", None),
        ("12345 67890 !!!! ???? ---- 12345 67890", None),
        ("Lorem ipsum dolor sit amet consectetur adipiscing elit", "latin"),
    ],
)
def test_guess_language(text: str, expected: str | None) -> None:
    assert guess_language(text) == expected


def test_language_mismatch() -> None:
    flags, language = quality_flags(EN, FR)
    assert language == "en"
    assert flags["language_mismatch"] == "prompt looks en, response looks fr"
    flags, _ = quality_flags(EN, "Как лучше всего научиться играть на пианино взрослому человеку?")
    assert "language_mismatch" in flags
    assert languages_differ("latin", "fr") is False  # unknown Latin-script language: no verdict
    assert languages_differ("ja", "zh") is False  # Japanese text can be mostly Han
    assert languages_differ(None, "en") is False


def test_encoding_problems_lists_what_it_found() -> None:
    assert encoding_problems("fine") == []
    assert encoding_problems("\ufffd\ufffd and \ud800") == ["2 U+FFFD replacement characters", "lone surrogates"]
