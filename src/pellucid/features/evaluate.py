"""How good a dictionary is, on held-out text: reconstruction, sparsity, and what the model loses.

Over the real tokens of a corpus (no padding, no special tokens), :func:`evaluate` measures

- **FVE**, the fraction of variance explained: ``1 - Σ‖x - x̂‖² / Σ‖x - mean(x)‖²`` (1 = exact);
- **L0**, the mean number of latents active per token;
- **dead** latents (never active on the corpus) and **dense** ones (active on more than
  ``dense_threshold`` of the tokens), as fractions of the latents;
- **CE loss recovered**: the model's next-token loss with the reconstruction spliced in place of
  the site (for a transcoder: in place of the MLP's output, computed from the MLP's input),
  against the clean loss and the loss with the site zeroed::

      recovered = (loss_zero - loss_spliced) / (loss_zero - loss_clean)

  1 means the model loses nothing when it runs on the dictionary's reconstruction; 0 means the
  reconstruction is as bad as removing the site altogether.

Splicing and zeroing go through ``lm.hooks`` (the model's exclusive lease) and change only the
positions whose activations the dictionary was trained on. The report is plain data and can be
written as ``pellucid_eval.json`` beside the dictionary.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from pellucid.errors import InvalidInputError
from pellucid.features.activations import token_batches
from pellucid.features.corpus import Corpus, iter_texts
from pellucid.features.dictionary import SparseDictionary

if TYPE_CHECKING:
    from pellucid.models.lm import LM

EVAL_FILE = "pellucid_eval.json"


@dataclass(frozen=True)
class EvalReport:
    """Figures of one evaluation (see the module docstring for each)."""

    fve: float
    l0: float
    dead_fraction: float
    dense_fraction: float
    ce_clean: float
    ce_spliced: float
    ce_zero: float
    ce_recovered: float
    tokens: int
    texts: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / EVAL_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path


class _Totals:
    """Running sums in float64, so long corpora do not lose precision."""

    def __init__(self, d_sae: int) -> None:
        self.n, self.sq_err, self.sum_sq, self.l0 = 0, 0.0, 0.0, 0.0
        self.sum: torch.Tensor | None = None
        self.counts = torch.zeros(d_sae, dtype=torch.float64)
        self.ce = {"clean": 0.0, "spliced": 0.0, "zero": 0.0}
        self.ce_tokens = 0

    def add(self, target: torch.Tensor, recon: torch.Tensor, z: torch.Tensor) -> None:
        target, recon = target.double(), recon.double()
        self.n += target.shape[0]
        self.sq_err += float((target - recon).pow(2).sum())
        self.sum_sq += float(target.pow(2).sum())
        self.sum = target.sum(0) if self.sum is None else self.sum + target.sum(0)
        active = z > 0
        self.l0 += float(active.sum())
        self.counts += active.sum(0).double()

    def variance(self) -> float:
        assert self.sum is not None
        return self.sum_sq - float(self.sum.pow(2).sum()) / self.n


def _ce_sum(logits: torch.Tensor, ids: torch.Tensor, attention: torch.Tensor) -> tuple[float, int]:
    """Summed next-token cross-entropy over positions whose token and next token are both real."""
    valid = (attention[:, :-1] & attention[:, 1:]).reshape(-1)
    losses = F.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
    )
    return float(losses[valid.to(losses.device)].double().sum()), int(valid.sum())


def _run(
    lm: LM, ids: torch.Tensor, attention: torch.Tensor, hooks: list[tuple[str, Callable[..., Any]]]
) -> torch.Tensor:
    with torch.no_grad(), lm.hooks(hooks):
        logits: torch.Tensor = lm.forward(ids.to(lm.device), attention_mask=attention.long().to(lm.device)).logits
    return logits


@torch.no_grad()
def _measure_batch(lm: LM, dictionary: SparseDictionary, batch: tuple[torch.Tensor, ...], totals: _Totals) -> None:
    """Clean, spliced and zeroed forwards of one batch of texts; adds their figures to ``totals``."""
    ids, attention, keep = batch
    c = dictionary.config
    mask = keep.to(lm.device)
    seen: dict[str, torch.Tensor] = {}

    def read(value: torch.Tensor, site: str) -> None:
        seen[site] = value.detach()

    def splice(value: torch.Tensor, site: str) -> torch.Tensor:
        source = seen[c.site] if c.is_transcoder else value
        out = value.clone()
        out[mask] = dictionary(source[mask].float()).to(value.dtype)
        return out

    def zero(value: torch.Tensor, site: str) -> torch.Tensor:
        out = value.clone()
        out[mask] = 0
        return out

    written = c.site_out or c.site
    reads = [(c.site, read)] + ([(written, read)] if c.is_transcoder else [])
    for kind, hooks in (
        ("clean", reads),
        ("spliced", [(c.site, read), (written, splice)] if c.is_transcoder else [(written, splice)]),
        ("zero", [(written, zero)]),
    ):
        logits = _run(lm, ids, attention, hooks)
        total, count = _ce_sum(logits, ids.to(logits.device), attention.to(logits.device))
        totals.ce[kind] += total
        if kind == "clean":
            totals.ce_tokens += count
            x, y = seen[c.site][mask].float(), seen[written][mask].float()
            z = dictionary.encode(x)
            totals.add(y, dictionary.reconstruct(x, z), z)


def evaluate(
    lm: LM,
    dictionary: SparseDictionary,
    corpus: Corpus,
    *,
    max_tokens: int = 50_000,
    context: int = 128,
    texts_per_forward: int = 8,
    dense_threshold: float = 0.1,
    text_field: str | None = None,
    out: str | Path | None = None,
) -> EvalReport:
    """Evaluate ``dictionary`` on up to ``max_tokens`` real tokens of ``corpus`` (written into ``out`` if given)."""
    from pellucid.features.saelens_format import check_compatible

    check_compatible(dictionary, lm)
    totals = _Totals(dictionary.d_sae)
    texts = 0
    batches = token_batches(
        lm, iter_texts(corpus, text_field), context, texts_per_forward, bucket=16, document_start=True
    )
    for _, ids, attention, keep in batches:
        texts += ids.shape[0]  # texts read (windows are sorted by length, so count the rows, not the windows)
        if keep.any():
            _measure_batch(lm, dictionary, (ids, attention, keep), totals)
        if totals.n >= max_tokens:
            break
    if totals.n == 0 or totals.ce_tokens == 0:
        raise InvalidInputError("The evaluation corpus has no text with at least two real tokens; give held-out text.")
    report = _report(totals, texts, dense_threshold)
    if out is not None:
        report.save(out)
    return report


def _report(totals: _Totals, texts: int, dense_threshold: float) -> EvalReport:
    clean, spliced, zero = (totals.ce[k] / totals.ce_tokens for k in ("clean", "spliced", "zero"))
    gap = zero - clean
    frequency = totals.counts / totals.n
    return EvalReport(
        fve=1.0 - totals.sq_err / max(totals.variance(), 1e-300),
        l0=totals.l0 / totals.n,
        dead_fraction=float((frequency == 0).double().mean()),
        dense_fraction=float((frequency > dense_threshold).double().mean()),
        ce_clean=clean,
        ce_spliced=spliced,
        ce_zero=zero,
        ce_recovered=(zero - spliced) / gap if abs(gap) > 1e-12 * max(abs(zero), 1.0) else float("nan"),
        tokens=totals.n,
        texts=texts,
    )


def read_report(folder: str | Path) -> dict[str, Any] | None:
    """The saved evaluation of a dictionary folder, if it has one."""
    path = Path(folder) / EVAL_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
