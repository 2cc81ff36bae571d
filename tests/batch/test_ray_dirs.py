"""A local Ray instance keeps its token and session folders under the Pellucid home."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from pellucid.batch.ray_backend import local_dirs

AUTH = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


def _no_auth_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AUTH:  # set empty (not deleted) so the test's changes are undone afterwards
        monkeypatch.setenv(name, "")


def test_token_and_temp_dir_go_under_a_short_home(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_auth_env(monkeypatch)
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="pl") as short:
        home = Path(short)
        kwargs = local_dirs(home)
        token = home.resolve() / "ray" / "auth_token"
        assert kwargs == {"_temp_dir": str(home.resolve() / "ray" / "tmp")}
        assert os.environ["RAY_AUTH_MODE"] == "token" and os.environ["RAY_AUTH_TOKEN_PATH"] == str(token)
        assert len(token.read_text()) == 64 and token.stat().st_mode & 0o777 == 0o600
        first = token.read_text()
        local_dirs(home)
        assert token.read_text() == first, "the token is made once"


def test_a_long_home_keeps_rays_temp_dir_and_an_explicit_auth_mode_is_respected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_auth_env(monkeypatch)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    home = tmp_path / ("h" * 80)
    assert local_dirs(home) == {}, "socket paths would pass Ray's 107-byte limit"
    assert os.environ["RAY_AUTH_MODE"] == "disabled" and not (home / "ray" / "auth_token").exists()
