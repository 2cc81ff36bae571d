"""Fixtures for the hardening tests: the gateway with chosen settings, and a counter of model loads.

``hardened(**settings)`` builds the in-process app over the tiny model and a fresh SQLite store
with the given setting overrides (``api_token``, ``max_body_bytes``...). ``load_spy`` replaces
``LM.load`` with a counter that refuses to load anything, to prove a request loaded nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.serve.conftest import Gateway, make_gateway, sqlite_gateway  # noqa: F401  (fixture)

TOKEN = "test-token-Zq9"


@pytest.fixture()
def hardened(tiny_lm, settings, tmp_path) -> Iterator[Callable[..., Gateway]]:
    with ExitStack() as stack:
        count = 0

        def build(**overrides: Any) -> Gateway:
            nonlocal count
            count += 1
            gen = make_gateway(tiny_lm, settings, f"sqlite:///{tmp_path / f'hard{count}.db'}", **overrides)
            gw = next(gen)
            stack.callback(lambda: next(gen, None))
            return gw

        yield build


@pytest.fixture()
def load_spy(monkeypatch) -> list[str]:
    """Every name ``LM.load`` was asked for (the load itself fails, as a request must never get there)."""
    from pellucid.errors import ModelNotFoundError
    from pellucid.models import LM

    calls: list[str] = []

    def spy(name_or_path: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(name_or_path)
        raise ModelNotFoundError(f"load_spy: refused to load {name_or_path!r}")

    monkeypatch.setattr(LM, "load", spy)
    return calls
