"""Fixtures for batch jobs: the tiny model as a folder every worker can load, and a local Ray instance.

Ray runs on this machine only (``ray.init`` with a fixed CPU count, no dashboard, its session
files under a temporary folder, token authentication off), once for the whole package. Without Ray
installed the Ray tests skip, except under CI (``CI=true``), where Ray is part of the setup and a
missing install must fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="package")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    try:
        import ray
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("Ray is not installed; scripts/setup.sh --dev installs pellucid[ray].")
        pytest.skip("Ray is not installed (pip install 'pellucid[ray]').")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ["RAY_TMPDIR"] = str(tmp_path_factory.mktemp("ray"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="package")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama saved to a folder (each worker process loads it by path)."""
    from tests.support.tiny import save_tiny

    return save_tiny(tmp_path_factory.mktemp("batch-tiny"), "llama")


@pytest.fixture(scope="package")
def batch_settings(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from pellucid.settings import Settings

    return Settings(home=tmp_path_factory.mktemp("batch-home"))


def prompts(n: int) -> list[dict[str, Any]]:
    """``n`` short, different prompts with a fixed target."""
    words = ["cat", "dog", "mat", "sun", "sea", "tree", "road", "song", "lamp", "door", "bird", "milk"]
    return [
        {"row": i, "prompt": f"the {words[i % 12]} saw {i} {words[(i * 5) % 12]} by the {words[(i * 7) % 12]}",
         "target": " end"}
        for i in range(n)
    ]  # fmt: skip
