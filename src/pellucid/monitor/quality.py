"""Data-quality flags for one logged call: cheap, offline heuristics computed on every record.

A flag is a name and a short human explanation, stored in ``records.flags`` and counted over
time like any metric (``metric_series("flag:long_prompt")``). The flags:

- ``empty_prompt`` / ``empty_response``: nothing but whitespace (a failed call has no response
  and is not flagged: its ``error`` says what happened).
- ``long_prompt``: more characters (or tokens, when known) than :class:`QualityConfig` allows.
- ``control_characters``: C0/C1 control characters other than tab, newline and carriage return
  — pasted binary, terminal escapes, or hidden prompt-injection payloads.
- ``broken_encoding``: U+FFFD replacement characters (bytes that were not valid UTF-8 somewhere
  upstream), lone surrogates, or mojibake such as ``Ã©`` (UTF-8 read as Latin-1).
- ``duplicate_prompt``: the exact prompt was seen before, by a :class:`DuplicateTracker`
  (bounded memory, per process); near-duplicates need embeddings and are found by the
  enrichment job, not here.
- ``language_mismatch``: the response is in another language (or script) than the prompt.

Language is guessed without any model or network: the dominant Unicode script of the letters,
and for Latin-script text a vote among a handful of very frequent function words (English,
French, German, Spanish, Italian, Portuguese, Dutch). It is coarse — good for counting shifts
over thousands of records, not a verdict on one short message — and answers ``None`` below
``min_letters`` letters or when no language clearly wins (then Latin text is just ``"latin"``).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_MOJIBAKE = re.compile(r"[ÃÂ][\x80-\xbf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u2013-\u203a]|â€")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

#: Unicode blocks of the scripts we tell apart: (first, last, script name).
_SCRIPTS = (
    (0x0041, 0x024F, "latin"),
    (0x0370, 0x03FF, "greek"),
    (0x0400, 0x052F, "cyrillic"),
    (0x0590, 0x05FF, "hebrew"),
    (0x0600, 0x06FF, "arabic"),
    (0x0900, 0x097F, "devanagari"),
    (0x0E00, 0x0E7F, "thai"),
    (0x3040, 0x30FF, "kana"),
    (0x4E00, 0x9FFF, "han"),
    (0xAC00, 0xD7AF, "hangul"),
)

_STOPWORDS = {
    "en": "the and is are of to that it you what with this how for was have not be can".split(),
    "fr": "le les et est des une du que pour dans vous pas avec je il sont sur qui ce".split(),
    "de": "der die das und ist nicht ein eine ich sie mit auf für zu wie was wir sind".split(),
    "es": "el los las y es que una por para con no qué cómo del se lo está son".split(),
    "it": "il di che non una per con sono come cosa gli della è ma anche questo".split(),
    "pt": "os as não um uma para com você como é do da em mais muito isso".split(),
    "nl": "het een en van niet dat ik je met voor op wat hoe zijn maar ook".split(),
}
_WORD_LANGS: dict[str, list[str]] = {}
for _lang, _words in _STOPWORDS.items():
    for _w in _words:
        _WORD_LANGS.setdefault(_w, []).append(_lang)
#: Punctuation and digits become spaces, so ``str.split`` yields bare words.
_NOT_WORD = str.maketrans({ch: " " for ch in "0123456789.,;:!?¿¡\"'()[]{}<>«»“”‘’…-–—/\\*_#@&%+=|~`^$"})

#: Language codes and the script each is written in.
_SCRIPT_OF = {lang: "latin" for lang in _STOPWORDS} | {"zh": "han", "ja": "han", "ko": "hangul", "el": "greek"}


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the data-quality flags.

    Attributes:
        max_prompt_chars: prompts longer than this are flagged ``long_prompt``.
        max_prompt_tokens: the same in tokens, used when the token count is known.
        min_letters: fewer letters than this and no language is guessed.
        scan_chars: only the first ``scan_chars`` characters are scanned for the language.
    """

    max_prompt_chars: int = 16_000
    max_prompt_tokens: int = 4_096
    min_letters: int = 20
    scan_chars: int = 2_000


#: The thresholds used when none are given.
DEFAULT_QUALITY = QualityConfig()


_ASCII_NON_LETTERS = bytes(c for c in range(128) if not chr(c).isalpha())


def _script_counts(text: str) -> dict[str, int]:
    """Letters per script (``latin``, ``cyrillic``, ``han``...; ``other`` for the rest)."""
    if text.isascii():  # the common case, counted in C
        return {"latin": len(text.encode("ascii").translate(None, _ASCII_NON_LETTERS))}
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            name = _script_of(ord(ch))
            counts[name] = counts.get(name, 0) + 1
    return counts


def _script_of(code: int) -> str:
    for first, last, name in _SCRIPTS:
        if first <= code <= last:
            return name
    return "other"


def _latin_language(sample: str) -> str:
    """Vote among the distinct function words present; ``"latin"`` unless one language clearly wins."""
    votes: dict[str, int] = {}
    for word in set(sample.lower().translate(_NOT_WORD).split()).intersection(_WORD_LANGS):
        for lang in _WORD_LANGS[word]:
            votes[lang] = votes.get(lang, 0) + 1
    ranked = sorted(votes.items(), key=lambda item: -item[1])[:2]
    if not ranked or ranked[0][1] < 2 or (len(ranked) > 1 and ranked[0][1] < 1.5 * ranked[1][1]):
        return "latin"
    return ranked[0][0]


def guess_language(text: str, config: QualityConfig = DEFAULT_QUALITY) -> str | None:
    """A language code (``en``, ``fr``, ``zh``, ``ja``...) or script name (``cyrillic``, ``latin``).

    ``None`` when the text has too few letters or mixes scripts with no clear majority.
    """
    sample = text[: config.scan_chars]
    counts = _script_counts(sample)
    letters = sum(counts.values())
    if letters < config.min_letters:
        return None
    script, top = max(counts.items(), key=lambda item: item[1])
    kana = counts.get("kana", 0)
    if kana and kana + counts.get("han", 0) >= 0.6 * letters:
        return "ja"
    if top < 0.6 * letters or script == "other":
        return None
    if script == "latin":
        return _latin_language(sample)
    return {"han": "zh", "hangul": "ko", "greek": "el"}.get(script, script)


def languages_differ(a: str | None, b: str | None) -> bool:
    """True when two guesses clearly disagree: different scripts, or two identified languages.

    Japanese and Chinese are never told apart this way: Japanese text can be mostly Han.
    """
    if a is None or b is None or a == b or {a, b} == {"ja", "zh"}:
        return False
    script_a, script_b = _SCRIPT_OF.get(a, a), _SCRIPT_OF.get(b, b)
    if script_a != script_b:
        return True
    return a != script_a and b != script_b  # same script: only two named languages disagree


def encoding_problems(text: str) -> list[str]:
    """What looks broken in ``text``'s encoding (empty list: nothing)."""
    if text.isascii():  # replacement characters, surrogates and mojibake are all non-ASCII
        return []
    problems = []
    if "\ufffd" in text:
        problems.append(f"{text.count(chr(0xFFFD))} U+FFFD replacement characters")
    if _SURROGATE.search(text):
        problems.append("lone surrogates")
    if _MOJIBAKE.search(text):
        problems.append("mojibake (UTF-8 read as Latin-1, e.g. 'Ã©')")
    return problems


def quality_flags(
    prompt_text: str,
    response: str | None,
    *,
    prompt_tokens: int | None = None,
    duplicates_before: int = 0,
    config: QualityConfig = DEFAULT_QUALITY,
) -> tuple[dict[str, str], str | None]:
    """The flags of one call, and the guessed language of its prompt.

    ``duplicates_before`` is how many times the same prompt was seen earlier (from a
    :class:`DuplicateTracker`); the function itself keeps no state.
    """
    flags: dict[str, str] = {}
    if not prompt_text.strip():
        flags["empty_prompt"] = "the prompt is empty or whitespace"
    if response is not None and not response.strip():
        flags["empty_response"] = "the response is empty or whitespace"
    if len(prompt_text) > config.max_prompt_chars:
        flags["long_prompt"] = f"{len(prompt_text)} characters > {config.max_prompt_chars}"
    elif prompt_tokens is not None and prompt_tokens > config.max_prompt_tokens:
        flags["long_prompt"] = f"{prompt_tokens} tokens > {config.max_prompt_tokens}"
    for part, text in (("prompt", prompt_text), ("response", response or "")):
        controls = len(_CONTROL.findall(text))
        if controls:
            flags.setdefault("control_characters", "")
            flags["control_characters"] += f"{'; ' if flags['control_characters'] else ''}{part}: {controls}"
        problems = encoding_problems(text)
        if problems:
            flags.setdefault("broken_encoding", "")
            sep = "; " if flags["broken_encoding"] else ""
            flags["broken_encoding"] += f"{sep}{part}: {', '.join(problems)}"
    if duplicates_before:
        flags["duplicate_prompt"] = f"same prompt seen {duplicates_before} time(s) before"
    language = guess_language(prompt_text, config)
    if response and language is not None:
        answered_in = guess_language(response, config)
        if languages_differ(language, answered_in):
            flags["language_mismatch"] = f"prompt looks {language}, response looks {answered_in}"
    return flags, language


class DuplicateTracker:
    """Remembers the last ``capacity`` prompt hashes and how often each was seen.

    Memory is bounded (least recently seen hashes are forgotten), so a duplicate is "seen
    again within the last ``capacity`` distinct prompts of this process". Not thread-safe:
    the batch writer calls it from its one thread.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, int] = OrderedDict()

    def check(self, prompt_hash: str) -> int:
        """Record one sighting of ``prompt_hash``; return how many sightings came before it."""
        before = self._seen.pop(prompt_hash, 0)
        self._seen[prompt_hash] = before + 1
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return before
