"""Assertions shared by tests."""

from __future__ import annotations


def assert_no_hooks(model) -> None:
    """Fail if any module of ``model`` still has a forward hook or pre-hook."""
    leftover = [
        name
        for name, module in model.named_modules()
        if module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
    ]
    assert not leftover, f"hooks left on: {leftover[:5]}"
