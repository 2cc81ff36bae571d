"""The on-disk format of the durable-mode journal: framed records, and a reader that survives damage.

A journal segment is a plain file of frames, one per record, appended one after the other::

    magic (4 bytes: F7 'P' 'J' 01) | length (4 bytes, big-endian) | crc32 (4 bytes) | payload

The payload is the record as JSON (UTF-8); the CRC-32 covers the length bytes and the payload,
so a damaged length is caught as surely as a damaged payload. The magic's first byte (0xF7)
never occurs in UTF-8 text, so it never appears inside a payload: after a damaged frame the
reader finds the next frame by scanning for the magic, and a frame is only believed when its
CRC matches.

What a crash can leave, and what :func:`read_segment` does with it:

- a **torn tail** — the process died while the last frames were being written, so the file
  ends inside a frame (or in zeros the file system allocated but never filled). Those bytes
  were never acknowledged to anybody (an append returns only after its frame is synced), so
  they are skipped, with a warning and a count.
- a **corrupt frame** — a bad CRC, a length past the end, a payload that is not a record.
  It is skipped with a warning and a count, and reading resumes at the next good frame.

Nothing here raises on bad bytes: a damaged journal never stops a server from starting.
"""

from __future__ import annotations

import json
import logging
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from pellucid.monitor.records import NewRecord, as_utc
from pellucid.monitor.sql import dump_json

log = logging.getLogger(__name__)

MAGIC = b"\xf7PJ\x01"
_HEADER = struct.Struct(">4sII")  # magic, payload length, crc32(length bytes + payload)
HEADER_SIZE = _HEADER.size
#: Largest payload a frame may declare; a bigger length is damage, not a record.
MAX_PAYLOAD = 64 * 1024 * 1024
_FIELDS = tuple(f.name for f in fields(NewRecord))


def encode_record(record: NewRecord) -> bytes:
    """``record`` as a JSON payload (every field; the time as ISO 8601 with its offset)."""
    data: dict[str, Any] = {name: getattr(record, name) for name in _FIELDS}
    data["created_at"] = as_utc(record.created_at).isoformat()
    return dump_json(data).encode("utf-8", "surrogatepass")


def decode_record(payload: bytes) -> NewRecord:
    """The record a payload holds. Raises ``ValueError`` when it is not one."""
    try:
        data = json.loads(payload.decode("utf-8", "surrogatepass"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or "prompt" not in data or not isinstance(data.get("id"), str):
        raise ValueError("not a record: a JSON object with 'prompt' and 'id' was expected")
    unknown = set(data) - set(_FIELDS)
    if unknown:
        raise ValueError(f"not a record: unknown fields {sorted(unknown)}")
    try:
        data["created_at"] = as_utc(datetime.fromisoformat(data["created_at"]))
        return NewRecord(**data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a record: {exc}") from None


def frame(payload: bytes) -> bytes:
    """One frame: magic, length, CRC-32 of length and payload, payload."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"a journal record is {len(payload)} bytes; at most {MAX_PAYLOAD} fit in a frame")
    length = struct.pack(">I", len(payload))
    return MAGIC + length + struct.pack(">I", zlib.crc32(payload, zlib.crc32(length))) + payload


@dataclass
class SegmentRead:
    """What reading one segment found: the good records, and the damage skipped (bytes, frames)."""

    path: Path
    records: list[NewRecord] = field(default_factory=list)
    corrupt_frames: int = 0
    torn_bytes: int = 0


def read_segment(path: Path) -> SegmentRead:
    """Every intact record of a segment, in order; damaged frames and a torn tail are skipped.

    Each skip is logged as a warning naming the file and the byte offset, and counted in the
    result. Never raises on damaged content (an unreadable file raises ``OSError``).
    """
    data = path.read_bytes()
    result = SegmentRead(path)
    for item in _scan(data):
        if isinstance(item, NewRecord):
            result.records.append(item)
        elif item.kind == "torn":
            result.torn_bytes += item.size
            log.warning(
                "Journal %s ends in a torn write: %d bytes at offset %d are not a whole frame; skipped "
                "(a write the crash interrupted, never acknowledged).",
                path,
                item.size,
                item.offset,
            )
        else:
            result.corrupt_frames += 1
            log.warning(
                "Journal %s has a corrupt frame at offset %d (%s); skipped %d bytes to the next good frame.",
                path,
                item.offset,
                item.reason,
                item.size,
            )
    return result


@dataclass(frozen=True)
class _Damage:
    kind: str  # "torn" (the file ends inside it) or "corrupt"
    offset: int
    size: int
    reason: str = ""


def _scan(data: bytes) -> Iterator[NewRecord | _Damage]:
    """Frames and damaged stretches of ``data``, in order."""
    offset, end = 0, len(data)
    while offset < end:
        if not data[offset:].strip(b"\0"):  # zeros to the end: space allocated, never written
            yield _Damage("torn", offset, end - offset)
            return
        parsed = _frame_at(data, offset)
        if isinstance(parsed, tuple):
            record, offset = parsed
            yield record
            continue
        resume = _next_good(data, offset + 1)
        if resume is None:
            kind = "torn" if parsed == "incomplete" else "corrupt"
            yield _Damage(kind, offset, end - offset, parsed)
            return
        yield _Damage("corrupt", offset, resume - offset, parsed)
        offset = resume


def _frame_at(data: bytes, offset: int) -> tuple[NewRecord, int] | str:
    """The record at ``offset`` and where the next frame starts, or why there is none."""
    if len(data) - offset < HEADER_SIZE:
        return "incomplete" if MAGIC.startswith(data[offset : offset + 4]) else "no frame header"
    magic, length, crc = _HEADER.unpack_from(data, offset)
    if magic != MAGIC:
        return "no frame header"
    start = offset + HEADER_SIZE
    if length > MAX_PAYLOAD:
        return f"impossible length {length}"
    if start + length > len(data):
        return "incomplete"
    payload = data[start : start + length]
    if zlib.crc32(payload, zlib.crc32(data[offset + 4 : offset + 8])) != crc:
        return "CRC mismatch"
    try:
        return decode_record(payload), start + length
    except ValueError as exc:
        return str(exc)


def _next_good(data: bytes, offset: int) -> int | None:
    """The offset of the next frame after ``offset`` whose CRC checks out, if any."""
    while (found := data.find(MAGIC, offset)) >= 0:
        if isinstance(_frame_at(data, found), tuple):
            return found
        offset = found + 1
    return None
