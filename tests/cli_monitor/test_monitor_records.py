"""``pellucid monitor records``: the logged calls with their ids, filtered, as a table or JSON."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from pellucid.cli.main import app
from pellucid.monitor import NewRecord, Store
from pellucid.monitor.records import utcnow


def _seed(home: Path) -> None:
    now = utcnow()
    with Store.open(f"sqlite:///{home / 'pellucid.db'}") as store:
        store.repo.insert_records(
            [
                NewRecord(prompt="capital of France?", response="Paris.", model="a", tags=["beta"],
                          created_at=now - timedelta(hours=1)),
                NewRecord(prompt="2+2?", response="4", model="b", created_at=now - timedelta(hours=2)),
                NewRecord(prompt="old one", response="x", model="a", created_at=now - timedelta(days=10)),
            ]
        )  # fmt: skip


def _run(home: Path, *args: str):
    return CliRunner().invoke(app, ["--home", str(home), "monitor", "records", *args])


def test_records_lists_ids_newest_first_with_filters(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    _seed(home)
    listed = _run(home, "--json")
    assert listed.exit_code == 0, listed.output
    everything = json.loads(listed.stdout)
    assert [r["prompt_text"] for r in everything] == ["capital of France?", "2+2?", "old one"], "newest first"
    ids = [r["id"] for r in everything]
    recent = json.loads(_run(home, "--window", "last:1d", "--json").stdout)
    assert [r["prompt_text"] for r in recent] == ["capital of France?", "2+2?"]
    assert [r["id"] for r in json.loads(_run(home, "--model", "a", "--tag", "beta", "--json").stdout)] == [ids[0]]
    table = _run(home, "--limit", "2")
    assert table.exit_code == 0 and ids[0] in table.stdout and "capital of France?" in table.stdout
    assert "2 of 3 record(s)" in table.stdout and "… 1 more" in table.stdout


def test_records_on_a_missing_store_says_so(tmp_path: Path) -> None:
    result = _run(tmp_path / "nowhere")
    assert result.exit_code != 0 and not (tmp_path / "nowhere" / "pellucid.db").exists()
