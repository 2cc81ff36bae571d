"""Train a dictionary for a loaded model in one call: stream its activations, fit, save.

:func:`train_dictionary` ties the pieces together — the site check against the model, an
:class:`~pellucid.features.activations.ActivationStream` over the corpus, :func:`~pellucid.features.train.fit`,
and (with ``out``) the SAELens folder, the training summary and checkpoints for ``resume``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pellucid.errors import InvalidInputError
from pellucid.features import saelens_format
from pellucid.features.activations import ActivationStream, site_width
from pellucid.features.corpus import Corpus, check_corpus
from pellucid.features.dictionary import DictionaryConfig
from pellucid.features.train import Progress, TrainConfig, TrainResult, fit, write_summary

if TYPE_CHECKING:
    from pellucid.models.lm import LM


def transcoder_sites(layer: int) -> tuple[str, str]:
    """What a transcoder of block ``layer`` reads and predicts: the MLP's input and output."""
    return f"blocks.{layer}.mlp.in", f"blocks.{layer}.mlp.out"


def dictionary_config(
    lm: LM,
    site: str,
    latents: int,
    k: int,
    architecture: str = "topk",
    site_out: str | None = None,
    skip: bool = False,
) -> DictionaryConfig:
    """The shape of a dictionary for ``site`` of ``lm`` (widths read from the model)."""
    d_in = site_width(lm, site)
    d_out = site_width(lm, site_out) if site_out is not None else None
    return DictionaryConfig(architecture, d_in, latents, k, site, lm.name, lm.version, site_out, d_out, skip=skip)


def train_dictionary(
    lm: LM,
    corpus: Corpus,
    site: str,
    *,
    latents: int,
    k: int,
    architecture: str = "topk",
    skip: bool = False,
    site_out: str | None = None,
    config: TrainConfig | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    context: int = 128,
    buffer_tokens: int | None = None,
    text_field: str | None = None,
) -> TrainResult:
    """Train a dictionary at ``site`` (or a transcoder ``site`` → ``site_out``) on ``corpus``.

    With ``out``, the folder receives the dictionary in SAELens' layout, ``pellucid_train.json``
    and, every ``config.checkpoint_every`` steps, a checkpoint that ``resume=True`` continues from.
    """
    config = config or TrainConfig()
    dconfig = dictionary_config(lm, site, latents, k, architecture, site_out, skip)
    check_corpus(corpus, text_field)
    if resume and out is None:
        raise InvalidInputError("resume=True needs the output folder (out=...) that holds the checkpoint.")
    sites = [site] if site_out is None else [site, site_out]
    stream = ActivationStream(
        lm,
        corpus,
        sites,
        batch_size=config.batch_size,
        buffer_tokens=buffer_tokens or max(16 * config.batch_size, 65536),
        context=context,
        seed=config.seed,
        text_field=text_field,
    )
    result = fit(stream, dconfig, config, out=out, resume=resume, progress=progress)
    if out is not None:
        saelens_format.save(result.dictionary, out, result.log_sparsity)
        write_summary(out, result, config)
    return result
