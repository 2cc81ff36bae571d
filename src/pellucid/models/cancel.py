"""Per-thread cancellation checks, consulted before every forward pass and every block.

A long computation without progress points (an inspect verb, a counterfactual's answers) can only
be stopped between forward passes — or between blocks, to stop inside one long pass. Registering
hooks for that at request time would race with the other threads running the same model (a
forward pass iterates the very hook dictionaries a registration mutates). Instead :class:`CancelChecks`
installs one pre-hook on each block **once, when the model is loaded**, before any other thread
can see it; the hook runs the checks registered *by the thread that is running the block*, read
from a thread-local list. With no check registered it returns after one attribute lookup (a few
microseconds per block, far below a block's cost).

:meth:`LM.cancel_check <pellucid.models.lm.LM.cancel_check>` registers a check for the ``with``
block; ``LM``'s entry points call :meth:`CancelChecks.run` before each forward pass as well, so a
computation stops at once even before its first block. Other threads are never stopped: their
checks are their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn

Check = Callable[[], None]


class _BlockCheck:
    """The permanent pre-hook on one block: run the calling thread's checks.

    ``permanent`` marks it for leak checks: it is installed once per model and never removed.
    """

    permanent = True
    __slots__ = ("_checks",)

    def __init__(self, checks: CancelChecks) -> None:
        self._checks = checks

    def __call__(self, _module: nn.Module, _args: Any) -> None:
        self._checks.run()


class CancelChecks:
    """The checks registered per thread for one model."""

    def __init__(self) -> None:
        self._local = threading.local()  # .checks: this thread's list, innermost last

    def __reduce__(self) -> tuple[type[CancelChecks], tuple[()]]:
        """A copied or pickled model gets an empty registry of its own (threads' checks are not copied)."""
        return CancelChecks, ()

    def install(self, blocks: Iterable[nn.Module]) -> int:
        """Add the permanent pre-hook to each block; call once, at load time. Returns how many.

        A block that already has one (a model copied with ``copy.deepcopy`` and wrapped again) loses
        it first, so each block runs exactly the checks of the ``LM`` that owns it now.
        """
        hook = _BlockCheck(self)
        count = 0
        for block in blocks:
            for key in [k for k, fn in block._forward_pre_hooks.items() if is_permanent(fn)]:
                del block._forward_pre_hooks[key]
            block.register_forward_pre_hook(hook)
            count += 1
        return count

    def run(self) -> None:
        """Run the calling thread's checks (each raises to stop the computation)."""
        checks = getattr(self._local, "checks", None)
        if checks:
            for check in checks:
                check()

    @contextmanager
    def active(self, check: Check) -> Iterator[None]:
        """Within the block, ``check()`` runs before this thread's forward passes and blocks."""
        if not callable(check):
            raise TypeError(f"The cancel check is {check!r}; it must be a function that raises to stop.")
        checks = getattr(self._local, "checks", None)
        if checks is None:
            checks = self._local.checks = []
        checks.append(check)
        try:
            yield
        finally:
            checks.remove(check)


def is_permanent(hook: object) -> bool:
    """Whether ``hook`` is one of the load-time cancellation hooks (which leak checks must ignore)."""
    return bool(getattr(hook, "permanent", False))
