"""A training corpus from the monitoring store: the prompts and responses logged in a window.

``pellucid features train --records last:7d`` trains a dictionary on the traffic the model
actually answers instead of a text file. :class:`RecordTexts` is the corpus: it reads the window's
records page by page (oldest first, keyset paging) and yields each record's prompt text and then
its response, so a window of millions of calls is never in memory. It is *re-iterable* — every
``iter()`` starts a fresh query over the same fixed time range — which the activation stream
needs to cycle over a small window and to skip the texts already read when a training run is
resumed.

The window uses the syntax of every other monitor command (``last:7d``, ``version:v2``,
``2026-11-01..2026-11-15``, parts joined by ``,``; see :mod:`pellucid.monitor.windows`); a
relative window is fixed when the corpus is built, so a long run reads the same records to the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pellucid.errors import InvalidInputError
from pellucid.monitor.records import RecordFilter
from pellucid.monitor.windows import parse_window

if TYPE_CHECKING:
    from pellucid.monitor.store import Store

#: records read per query
PAGE = 200


class RecordTexts:
    """The prompt and response texts of the records in ``window`` (``None``: all), streamed from ``store``.

    Oldest first by default (a training run reads traffic in order); ``newest_first`` for a view
    of what the model answers now.
    """

    def __init__(self, store: Store, window: str | None, *, page: int = PAGE, newest_first: bool = False) -> None:
        self.store, self.window, self.page, self.newest_first = store, window, page, newest_first
        self.filter = parse_window(window) if window is not None else RecordFilter()

    def __iter__(self) -> Iterator[str]:
        cursor: str | None = None
        oldest_first = not self.newest_first
        while True:
            found = self.store.repo.list_records(self.filter, limit=self.page, cursor=cursor, oldest_first=oldest_first)
            for record in found.items:
                yield record.prompt_text
                if record.response and record.error is None:
                    yield record.response
            if found.next_cursor is None:
                return
            cursor = found.next_cursor

    def count(self) -> int:
        """How many records the window holds."""
        return self.store.repo.count(self.filter)

    def __repr__(self) -> str:
        return f"RecordTexts(window={self.window!r})"


def record_corpus(store: Store, window: str) -> RecordTexts:
    """The logged texts of ``window``, refused at once when the window holds no records."""
    texts = RecordTexts(store, window)
    if texts.count() == 0:
        total = store.repo.count()
        raise InvalidInputError(
            f"The window {window!r} holds no records (the store has {total} in all); widen the window "
            "(e.g. last:30d) or log calls first through `pellucid serve`."
        )
    return texts


def check_choice(data: str | Path | None, records: str | None) -> None:
    """Refuse both or neither of a corpus file and a records window (before the store opens)."""
    wanted = (
        "Give the training texts with exactly one of --data FILE (a corpus file) and --records WINDOW "
        "(prompts and responses logged in the store, e.g. last:7d)"
    )
    if data is not None and records is not None:
        raise InvalidInputError(f"{wanted}; not both.")
    if data is None and records is None:
        raise InvalidInputError(f"{wanted}.")


def choose_corpus(data: str | Path | None, records: str | None, store: Store | None) -> str | Path | RecordTexts:
    """``data`` (a corpus file) or the store's ``records`` window: exactly one of them."""
    check_choice(data, records)
    if data is not None:
        return data
    if store is None or records is None:
        raise InvalidInputError(f"--records {records!r} reads the monitoring store; pass store= (the opened store).")
    return record_corpus(store, records)
