"""The part of :class:`~pellucid.models.lm.LM` that owns its torch model: lease, cancellation, module changes.

Every change to what a forward pass computes goes through one of these methods, so it happens
under the model's exclusive :class:`~pellucid.models.lease.Lease` and is undone in ``finally``:

- :meth:`ModelOwner.blocks_from` — run only the blocks from a layer on (the patching runner reuses
  the base run below the patched layer);
- :meth:`ModelOwner.replace_outputs` — rewrite module outputs (LRP's rules);
- ``LM.hooks`` — read or edit named sites (in :mod:`pellucid.models.lm`).

:meth:`ModelOwner.cancel_check` registers a per-thread check that the hooks installed once at load
time run before every block (:mod:`pellucid.models.cancel`); nothing is registered per request.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, cast

from torch import nn

from pellucid.errors import InvalidInputError, ModelLoadError
from pellucid.models.architectures import ArchSpec
from pellucid.models.cancel import CancelChecks, Check
from pellucid.models.lease import Lease
from pellucid.models.relevance import OutputFn
from pellucid.models.relevance import replace_outputs as _replace_outputs


class ModelOwner:
    """Lease, cancellation and module changes of one model (mixed into ``LM``)."""

    model: Any
    name: str
    model_type: str
    arch: ArchSpec
    n_layers: int
    _prefix: str
    _lease: Lease
    _cancel: CancelChecks

    def _own(self) -> None:
        """Create the lease and install the cancellation hooks (once, at load time)."""
        self._lease = Lease(self.name)
        self._cancel = CancelChecks()
        self._cancel.install(self._block_list())

    def lease(self, exclusive: bool = False, timeout: float | None = None) -> AbstractContextManager[None]:
        """``with lm.lease(exclusive=...):`` — hold this model's lease for the block.

        Shared (the default) around code that calls the model's modules directly
        (``lm.site(...).module(x)``); exclusive around code that changes them. ``timeout`` seconds at
        most, then :class:`~pellucid.models.lease.LeaseTimeout`. See :mod:`pellucid.models.lease`.
        """
        return self._lease(exclusive, timeout)

    def cancel_check(self, check: Check) -> AbstractContextManager[None]:
        """Within the block, ``check()`` runs before each forward pass and each block this thread runs.

        ``check`` raises (e.g. :class:`~pellucid.errors.Cancelled`) to stop the computation; other
        threads are not affected. See :mod:`pellucid.models.cancel`.
        """
        return self._cancel.active(check)

    def check_cancelled(self) -> None:
        """Run this thread's cancellation checks now (between backward passes, which run no block hooks)."""
        self._cancel.run()

    @contextmanager
    def blocks_from(self, layer: int) -> Iterator[None]:
        """Within the block, the model runs only blocks ``layer..n-1`` (exclusive; restored in ``finally``).

        Attach hooks to block sites *before* entering: inside, entry ``i`` of the list is layer ``layer + i``.
        """
        if not 0 <= layer < self.n_layers:
            raise InvalidInputError(f"blocks_from({layer}): the layer must be in 0..{self.n_layers - 1}.")
        with self._lease(exclusive=True):
            if layer == 0:
                yield
                return
            parent, attr = self._block_parent()
            full = getattr(parent, attr)
            setattr(parent, attr, nn.ModuleList(list(full)[layer:]))
            try:
                yield
            finally:
                setattr(parent, attr, full)

    @contextmanager
    def replace_outputs(self, pairs: Sequence[tuple[nn.Module, OutputFn]]) -> Iterator[None]:
        """Within the block, each module's output ``y`` becomes ``fn(module, x, y)`` (exclusive).

        The modules are this model's (from :func:`~pellucid.models.relevance.relevance_layout`); LRP
        attaches its rules this way. Removed on exit, after an exception too.
        """
        with self._lease(exclusive=True), _replace_outputs(pairs):
            yield

    def _block_parent(self) -> tuple[nn.Module, str]:
        """The module holding the block list, and the list's attribute name."""
        path = f"{self._prefix}{self.arch.blocks}"
        parent_path, _, attr = path.rpartition(".")
        try:
            parent = self.model.get_submodule(parent_path) if parent_path else self.model
        except AttributeError:
            parent = None
        if parent is None or not isinstance(getattr(parent, attr, None), nn.ModuleList):
            raise ModelLoadError(
                f"{self.name} has no block list at {path!r} (where the architecture table puts the blocks of "
                f"{self.model_type} models); correct its row in pellucid.models.architectures.ARCHITECTURES."
            )
        return parent, attr

    def _block_list(self) -> nn.ModuleList:
        parent, attr = self._block_parent()
        return cast(nn.ModuleList, getattr(parent, attr))
