"""Named sites and the hooks that read or edit them.

A hook function receives the activation at a site and the site's name, and returns either
``None`` (read only) or a tensor of the same shape that replaces the activation::

    def double(x, site):
        return 2 * x

    with lm.hooks({"blocks.3.mlp.out": double}):
        lm.forward(ids)

Hooks are registered only inside :func:`attach` (used by ``LM.hooks``), which removes every
one of them in ``finally`` — after a normal exit and after an exception alike. ``LM.hooks``
holds the model's exclusive lease (:mod:`pellucid.models.lease`) while they are attached, so
they act on the forward passes of the thread that attached them and no other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from pellucid.errors import InvalidInputError, unknown_name
from pellucid.models.architectures import ArchSpec

HookFn = Callable[[torch.Tensor, str], "torch.Tensor | None"]

#: site suffix inside a block -> (module attribute of ArchSpec or "" for the block, hook kind, output index)
_BLOCK_SITES: dict[str, tuple[str, Literal["input", "output"], int]] = {
    "resid_pre": ("", "input", 0),
    "resid_post": ("", "output", 0),
    "attn.out": ("attn_out", "output", 0),
    "attn.z": ("attn_out", "input", 0),
    "attn.pattern": ("attn", "output", 1),
    "mlp.in": ("mlp", "input", 0),
    "mlp.post": ("mlp_down", "input", 0),
    "mlp.out": ("mlp_down", "output", 0),
}
_GLOBAL_SITES: dict[str, tuple[str, Literal["input", "output"], int]] = {
    "embed": ("embed", "output", 0),
    "final_norm": ("final_norm", "output", 0),
    "logits": ("unembed", "output", 0),
}
_BLOCK_RE = re.compile(r"^blocks\.(\d+)\.(.+)$")
READ_ONLY_SITES = ("attn.pattern",)


@dataclass(frozen=True)
class Site:
    """A resolved site: which module to hook, on its input or output, and how to view it."""

    name: str
    module: nn.Module
    kind: Literal["input", "output"]
    index: int
    layer: int | None
    n_heads: int | None = None  # set for per-head views (attn.z)
    read_only: bool = False


def site_names(n_layers: int, has_unembed: bool = True) -> list[str]:
    """Every valid site name for a model with ``n_layers`` blocks."""
    names = ["embed"]
    for layer in range(n_layers):
        names.extend(f"blocks.{layer}.{suffix}" for suffix in _BLOCK_SITES)
    if has_unembed:
        names.extend(["final_norm", "logits"])
    return names


def site_patterns(n_layers: int) -> list[str]:
    """Site names in compact form for error messages."""
    return ["embed", *(f"blocks.{{0..{n_layers - 1}}}.{s}" for s in _BLOCK_SITES), "final_norm", "logits"]


def resolve_site(name: str, model: nn.Module, arch: ArchSpec, prefix: str, n_layers: int, n_heads: int) -> Site:
    """Find the module behind a site name, or raise an error listing the valid names."""
    match = _BLOCK_RE.match(name)
    if match:
        layer, suffix = int(match.group(1)), match.group(2)
        if suffix not in _BLOCK_SITES:
            raise unknown_name("site", name, site_patterns(n_layers))
        if not 0 <= layer < n_layers:
            raise InvalidInputError(f"Site {name!r} names layer {layer}, but this model has layers 0..{n_layers - 1}.")
        attr, kind, index = _BLOCK_SITES[suffix]
        block_path = f"{prefix}{arch.blocks}.{layer}"
        path = block_path if not attr else f"{block_path}.{getattr(arch, attr)}"
        return Site(
            name=name,
            module=model.get_submodule(path),
            kind=kind,
            index=index,
            layer=layer,
            n_heads=n_heads if suffix == "attn.z" else None,
            read_only=suffix in READ_ONLY_SITES,
        )
    if name in _GLOBAL_SITES:
        attr, kind, index = _GLOBAL_SITES[name]
        rel = getattr(arch, attr)
        if rel is None:
            raise InvalidInputError(f"Site {name!r} does not exist for {arch.family} models (no such module).")
        path = rel if attr == "unembed" else f"{prefix}{rel}"
        return Site(name=name, module=model.get_submodule(path), kind=kind, index=index, layer=None)
    raise unknown_name("site", name, site_patterns(n_layers))


def _view(site: Site, value: torch.Tensor) -> torch.Tensor:
    if site.n_heads is not None:
        return value.view(*value.shape[:-1], site.n_heads, value.shape[-1] // site.n_heads)
    return value


def _unview(site: Site, value: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    if value.shape != _view(site, original).shape:
        raise InvalidInputError(
            f"Hook on {site.name!r} returned shape {tuple(value.shape)}; it must keep the shape "
            f"{tuple(_view(site, original).shape)}."
        )
    return value.reshape(original.shape) if site.n_heads is not None else value


def _make_output_hook(site: Site, fn: HookFn) -> Callable[..., Any]:
    def hook(_module: nn.Module, _args: Any, output: Any) -> Any:
        is_tuple = isinstance(output, tuple)
        value = output[site.index] if is_tuple else output
        if value is None:
            raise InvalidInputError(
                f"Site {site.name!r} produced no tensor; attention weights need the model loaded with "
                "attn_implementation='eager' (the default in Pellucid)."
            )
        new = fn(_view(site, value), site.name)
        if new is None:
            return None
        if site.read_only:
            raise InvalidInputError(
                f"Site {site.name!r} can be read but not edited: the attention output is already computed "
                "from it. Edit 'attn.z' or 'attn.out' instead."
            )
        new = _unview(site, new, value)
        if is_tuple:
            return (*output[: site.index], new, *output[site.index + 1 :])
        return new

    return hook


def _make_input_hook(site: Site, fn: HookFn) -> Callable[..., Any]:
    def hook(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        from_kwargs = not args
        value = kwargs["hidden_states"] if from_kwargs else args[0]
        new = fn(_view(site, value), site.name)
        if new is None:
            return None
        new = _unview(site, new, value)
        if from_kwargs:
            return args, {**kwargs, "hidden_states": new}
        return (new, *args[1:]), kwargs

    return hook


@contextmanager
def attach(pairs: list[tuple[Site, HookFn]]) -> Iterator[None]:
    """Register hooks for ``(site, fn)`` pairs; always remove them on exit."""
    handles: list[torch.utils.hooks.RemovableHandle] = []
    try:
        for site, fn in pairs:
            if site.kind == "output":
                handles.append(site.module.register_forward_hook(_make_output_hook(site, fn)))
            else:
                handles.append(site.module.register_forward_pre_hook(_make_input_hook(site, fn), with_kwargs=True))
        yield
    finally:
        for handle in handles:
            handle.remove()


def normalize_hook_spec(
    hooks: Mapping[str, HookFn | list[HookFn]] | list[tuple[str, HookFn]],
) -> list[tuple[str, HookFn]]:
    """Accept ``{site: fn}``, ``{site: [fn, ...]}`` or ``[(site, fn), ...]``."""
    items = list(hooks.items()) if isinstance(hooks, Mapping) else list(hooks)
    pairs: list[tuple[str, HookFn]] = []
    for name, fn in items:
        fns = fn if isinstance(fn, list) else [fn]
        for f in fns:
            if not callable(f):
                raise InvalidInputError(f"The hook for site {name!r} is {f!r}; it must be a function (tensor, site).")
            pairs.append((name, f))
    return pairs
