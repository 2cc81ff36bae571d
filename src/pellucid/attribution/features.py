"""Features: the units of the prompt that an attribution method scores.

A *unit* is a group of token positions shown as one cell of the heat map: a token, a word,
a sentence or a whole chat segment. Only units in the attributed segments (by default the
user's message) are *features* — perturbed, and given a score. The chat template and the
system prompt are still shown, as units of one token each with no score (NaN), so the heat map
reads like the prompt the model saw without the markup stealing the importance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pellucid.errors import InvalidInputError
from pellucid.types import Encoding

GRANULARITIES = ("token", "word", "sentence", "segment")
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s+|\n+")


@dataclass(frozen=True)
class Units:
    """Grouping of the prompt's tokens into display units, some of which are features."""

    positions: list[list[int]]  # token positions of each unit, in order
    labels: list[str]
    segments: list[str]
    features: list[int]  # indices into units that are attributed

    @property
    def feature_positions(self) -> list[list[int]]:
        return [self.positions[u] for u in self.features]

    def __len__(self) -> int:
        return len(self.positions)


def _sentence_ids(enc: Encoding) -> list[int]:
    """Sentence index per token: a new sentence starts after . ! ? followed by space, or a newline."""
    boundaries = sorted(m.end() for m in _SENTENCE_END.finditer(enc.text))
    ids, b = [], 0
    for start, _end in enc.offsets:
        while b < len(boundaries) and boundaries[b] <= start:
            b += 1
        ids.append(b)
    return ids


def build_units(enc: Encoding, granularity: str = "word", segments: tuple[str, ...] = ("user",)) -> Units:
    """Group ``enc``'s tokens into units; units inside ``segments`` are the features."""
    if granularity not in GRANULARITIES:
        raise InvalidInputError(f"Unknown granularity {granularity!r}; choose one of {', '.join(GRANULARITIES)}.")
    sentence = _sentence_ids(enc) if granularity == "sentence" else None
    positions: list[list[int]] = []
    keys: list[object] = []
    for pos, segment in enumerate(enc.segments):
        attributed = segment in segments
        if not attributed:
            key: object = ("fixed", pos)
        elif granularity == "token":
            key = ("token", pos)
        elif granularity == "word":
            key = ("word", enc.words[pos]) if enc.words[pos] >= 0 else ("token", pos)
        elif granularity == "sentence":
            key = ("sentence", segment, sentence[pos])  # type: ignore[index]
        else:
            key = ("segment", segment)
        if positions and keys[-1] == key:
            positions[-1].append(pos)
        else:
            positions.append([pos])
            keys.append(key)
    labels = ["".join(enc.tokens[p] for p in unit) for unit in positions]
    unit_segments = [enc.segments[unit[0]] for unit in positions]
    features = [u for u, seg in enumerate(unit_segments) if seg in segments]
    if not features:
        present = sorted(set(enc.segments))
        raise InvalidInputError(
            f"The prompt has no tokens in the attributed segments {list(segments)} (it has {present}); "
            "give a user message, or choose segments=... that exist."
        )
    return Units(positions=positions, labels=labels, segments=unit_segments, features=features)


def restrict_to_span(enc: Encoding, prompt: str, span: tuple[int, int]) -> Encoding:
    """``enc`` with only the user's characters ``prompt[start:end]`` left attributable.

    A data-set row wrapped in a template ("Review: {text}\\nIs this review positive or negative?")
    is one user message, but the template's words are the same in every row: attributing them
    fills the top features with "Review" and "Answer" instead of what the row says. The user
    tokens outside ``span`` (character offsets into ``prompt``, the user's message) are relabelled
    ``template``, so they stay visible in the heat map with no score; a token that overlaps the
    span keeps its segment.
    """
    start, end = span
    if not 0 <= start < end <= len(prompt):
        raise InvalidInputError(
            f"The attributed span {span} is not inside the prompt of {len(prompt)} characters; "
            "give (start, end) with 0 <= start < end <= len(prompt)."
        )
    base = enc.text.find(prompt)
    if base < 0:  # the chat template may strip the message's outer whitespace
        lead = len(prompt) - len(prompt.lstrip())
        found = enc.text.find(prompt.strip())
        base = found - lead if found >= 0 else -1
    if base < 0:
        raise InvalidInputError("The prompt's text was not found in the encoded input, so its span cannot be placed.")
    a, b = base + start, base + end
    segments = [
        seg if seg != "user" or (x < b and y > a) else "template" for seg, (x, y) in zip(enc.segments, enc.offsets)
    ]
    return replace(enc, segments=segments)
