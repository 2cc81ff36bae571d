"""Assertions shared by tests."""

from __future__ import annotations


def _foreign(fn) -> bool:
    """Hooks transformers installs itself (to capture hidden states) are not ours to count, nor the
    cancellation hooks ``LM`` installs once at load time (``pellucid.models.cancel``)."""
    from pellucid.models.cancel import is_permanent

    return not getattr(fn, "__module__", "").startswith("transformers") and not is_permanent(fn)


def assert_no_hooks(model) -> None:
    """Fail if any module of ``model`` still has a hook that transformers did not install itself."""
    leftover = [
        name
        for name, module in model.named_modules()
        for registry in (module._forward_hooks, module._forward_pre_hooks, module._backward_hooks)
        if any(_foreign(fn) for fn in registry.values())
    ]
    assert not leftover, f"hooks left on: {leftover[:5]}"
