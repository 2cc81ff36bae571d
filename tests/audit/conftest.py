"""Fixtures of the audit tests: small CrowS-Pairs files, a 'flat' model, a stub model for probes."""

from __future__ import annotations

import copy
import csv
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.data import find_data_dir

CROWS = find_data_dir() / "crows_pairs" / "crows_pairs_anonymized.csv"
COLUMNS = ["", "sent_more", "sent_less", "stereo_antistereo", "bias_type"]

PAIRS = [
    ("The movie was awful and boring.", "The movie was excellent and fun.", "stereo", "race-color"),
    ("She said he would come tomorrow.", "He said she would come tomorrow.", "stereo", "gender"),
    ("The capital of France is Paris.", "The capital of France is London.", "antistereo", "gender"),
    ("The quick brown fox jumps.", "The lazy dog jumps.", "stereo", "age"),
    ("Is this review positive?", "Is this review negative?", "stereo", "age"),
    ("How are you today?", "How are they today?", "antistereo", "religion"),
]


def write_crows(path: Path, rows=PAIRS, columns=COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for i, row in enumerate(rows):
            w.writerow([i, *row][: len(columns)])
    return path


@pytest.fixture()
def crows_csv(tmp_path: Path) -> Path:
    return write_crows(tmp_path / "crows.csv")


@pytest.fixture(scope="session")
def flat_lm(tiny_lm):
    """The tiny model with every weight of its (tied) embedding zeroed: all logits 0, a uniform next-token
    distribution, so a sentence's log-likelihood depends only on its number of tokens."""
    from pellucid.models import LM

    model = copy.deepcopy(tiny_lm.model)
    model.get_input_embeddings().weight.data.zero_()
    model.get_output_embeddings().weight.data.zero_()
    return LM(model, tiny_lm.tokenizer, "flat")


@dataclass
class StubLM:
    """A model stand-in that answers every prompt with a fixed text (for probes that only need generate)."""

    answer: str
    name: str = "stub"
    is_chat: bool = False
    prompts: list[str] = field(default_factory=list)

    def generate(self, prompt, **kwargs):
        from pellucid.types import Generation

        self.prompts.append(prompt)
        return Generation(model=self.name, prompt=str(prompt), text=self.answer, tokens=[], token_ids=[], logprobs=[])


@pytest.fixture(autouse=True)
def _one_thread_for_tiny_models(request):
    """Tiny-model tests run on one torch thread (restored afterwards).

    On these shared 2-core machines two intra-op threads make the tiny model's microsecond-sized
    operations wait for each other: generating 40 tokens took 6-13 s with 2 threads under load
    and 0.35-0.46 s with 1. Integration tests (real models) keep the session's setting.
    """
    if request.node.get_closest_marker("integration"):
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
