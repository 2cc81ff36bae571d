"""Training on logged traffic: ``features train --records WINDOW`` streams a window of the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pellucid.cli.features_cmd import app
from pellucid.errors import InvalidInputError
from pellucid.monitor import Store
from pellucid.monitor.records import NewRecord
from pellucid.service.feature_corpus import RecordTexts, choose_corpus, record_corpus
from pellucid.settings import Settings
from tests.support.tiny import CORPUS

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
WINDOW = "2026-11-02..2026-11-02"


def _fill(home: Path) -> list[NewRecord]:
    """Twelve calls on 2 November (the last one failed) and one on 5 November, in the store of ``home``."""
    logged = [
        NewRecord(prompt=CORPUS[i % len(CORPUS)], response=f"answer {i}", created_at=START + timedelta(minutes=i))
        for i in range(11)
    ]
    logged.append(NewRecord(prompt="a failed call", error="timeout", created_at=START + timedelta(minutes=20)))
    logged.append(NewRecord(prompt="later", response="not in the window", created_at=START + timedelta(days=3)))
    with Store.open(settings=Settings(home=home)) as store:
        store.repo.insert_records(logged)
    return logged


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    _fill(tmp_path / "home")
    return tmp_path / "home"


def test_the_window_streams_prompts_then_responses_oldest_first_page_by_page(home: Path) -> None:
    with Store.open(settings=Settings(home=home)) as store:
        texts = RecordTexts(store, WINDOW, page=5)  # three pages for twelve records
        expected = [t for i in range(11) for t in (CORPUS[i % len(CORPUS)], f"answer {i}")] + ["a failed call"]
        assert list(texts) == expected
        assert list(texts) == expected  # re-iterable: a new query each time (cycling, resuming)
        assert texts.count() == 12


def test_an_empty_window_names_the_window_and_the_store_size(home: Path) -> None:
    with Store.open(settings=Settings(home=home)) as store:
        with pytest.raises(InvalidInputError, match=r"window '2026-10-01..2026-10-02' holds no records.*has 13 in all"):
            record_corpus(store, "2026-10-01..2026-10-02")
        with pytest.raises(InvalidInputError, match="--data FILE .* and --records WINDOW .*not both"):
            choose_corpus("corpus.txt", WINDOW, store)
        with pytest.raises(InvalidInputError, match="exactly one of --data FILE"):
            choose_corpus(None, None, store)


def invoke(home: Path, *args: str):
    return CliRunner().invoke(app, list(args), env={"PELLUCID_HOME": str(home), "PELLUCID_DATABASE_URL": ""})


SMALL = ["--site", "blocks.1.resid_post", "--latents", "32", "--k", "4", "--tokens", "400", "--batch-size", "64"]


def test_train_on_a_window_of_records(home: Path, tmp_path: Path, tiny_dir: Path) -> None:
    out = tmp_path / "sae"
    result = invoke(home, "train", *SMALL, "--records", WINDOW, "--out", str(out), "--json", "--model", str(tiny_dir))
    assert result.exit_code == 0, result.output
    trained = json.loads(result.stdout)
    assert trained["tokens"] >= 400 and (out / "sae_weights.safetensors").is_file()


def test_records_and_data_are_exclusive_and_an_empty_window_fails_before_the_model(home: Path, tmp_path: Path) -> None:
    no_model = ["--model", str(tmp_path / "no-such-model")]
    both = invoke(home, "train", *SMALL, "--records", WINDOW, "--data", str(tmp_path / "c.txt"), *no_model)
    assert both.exit_code != 0 and "--data FILE" in both.output and "--records WINDOW" in both.output
    neither = invoke(home, "train", *SMALL, *no_model)
    assert neither.exit_code != 0 and "exactly one of --data FILE" in neither.output
    empty = invoke(home, "train", *SMALL, "--records", "2026-01-01..2026-01-02", *no_model)
    assert empty.exit_code != 0 and "holds no records (the store has 13 in all)" in " ".join(empty.output.split())
