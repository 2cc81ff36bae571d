"""Helpers for the inspect tests: prompt pairs, and a fixture that makes ``lm.forward`` fail mid-run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.checks import assert_no_hooks

CLEAN = "The Eiffel Tower is located in the city of"
#: same token count as CLEAN with the tiny tokenizer and with SmolLM2
CORRUPTED = "The Eiffel Tower was located in the city of"
FAMILIES = ["tiny_lm", "tiny_gpt2", "tiny_neox"]


def assert_intact(lm: Any) -> None:
    """No hook left and the block list whole again (the fast runner shortens it while running)."""
    assert_no_hooks(lm.model)
    blocks = lm.model.get_submodule(lm.arch.blocks)
    assert len(blocks) == lm.n_layers


@pytest.fixture()
def failing_forward(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Any, int], None]]:
    """``failing_forward(lm, n)``: the n-th call of ``lm.forward`` (from 1) raises RuntimeError."""

    def install(lm: Any, n: int) -> None:
        real = lm.forward
        calls = {"n": 0}

        def forward(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] >= n:
                raise RuntimeError("forward failed on purpose")
            return real(*args, **kwargs)

        monkeypatch.setattr(lm, "forward", forward)

    yield install
