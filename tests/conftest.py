"""Shared fixtures.

- ``tiny_lm`` / ``tiny_gpt2`` / ``tiny_neox``: random-initialised models built here (seconds).
- ``smollm``: the bundled SmolLM2 (integration tests; converted once into a test home that
  persists in ``.pellucid-test-home`` between runs).
- ``settings``: Settings pointing at a fresh temporary home.

Session fixtures are read-only: tests must not edit the models they receive (hooks are
removed by ``LM.hooks`` itself).

The suite never touches the network: pytest-socket allows loopback only, and the hub is
switched to offline mode.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.data import find_data_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
TEST_HOME = Path(os.environ.get("PELLUCID_TEST_HOME", REPO / ".pellucid-test-home"))
DATA = find_data_dir()


#: fixtures that load the bundled real models: a test that asks for one (directly or through another fixture)
#: is an integration test, so ``-m "not integration"`` runs only tests on tiny models built here
REAL_MODEL_FIXTURES = frozenset({"smollm", "minilm"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _real_weights_only_in_integration_tests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside integration tests, loading a bundled model in this process fails at once, naming the fix.

    ``LM.load`` and ``Encoder.load`` both resolve what they were given first; once that resolves to a
    bundled model, the test is stopped before any weight is read (errors of resolving itself still raise).
    """
    if request.node.get_closest_marker("integration") is not None:
        return
    from pellucid.models import encoder, lm
    from pellucid.models.registry import BUNDLED

    for module in (lm, encoder):

        def guarded(*args, _real=module.resolve, **kwargs):
            source = _real(*args, **kwargs)
            if source.name in BUNDLED:
                pytest.fail(
                    f"{request.node.nodeid} loads the bundled model {source.name!r} but is not an integration test: "
                    "use the smollm/minilm fixtures (marked automatically) or mark it with pytest.mark.integration."
                )
            return source

        monkeypatch.setattr(module, "resolve", guarded)


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    import torch

    torch.set_num_threads(2)


@pytest.fixture()
def settings(tmp_path: Path):
    from pellucid.settings import Settings

    return Settings(home=tmp_path / "home")


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.tiny import save_tiny

    return save_tiny(tmp_path_factory.mktemp("tiny-llama"), "llama")


@pytest.fixture(scope="session")
def tiny_lm(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from pellucid.models import LM
    from pellucid.settings import Settings

    return LM.load(str(tiny_dir), Settings(home=tmp_path_factory.mktemp("home")))


def _tiny(family: str, tmp_path_factory: pytest.TempPathFactory):
    from pellucid.models import LM
    from pellucid.settings import Settings
    from tests.support.tiny import save_tiny

    folder = save_tiny(tmp_path_factory.mktemp(f"tiny-{family}"), family, chat=False)
    return LM.load(str(folder), Settings(home=tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory):
    return _tiny("gpt2", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_neox(tmp_path_factory: pytest.TempPathFactory):
    return _tiny("gpt_neox", tmp_path_factory)


@pytest.fixture(scope="session")
def test_settings():
    """Settings whose home persists between runs, so the bundled GGUF is converted once."""
    from pellucid.settings import Settings

    return Settings(home=TEST_HOME)


@pytest.fixture(scope="session")
def smollm(test_settings):
    from pellucid.models import LM

    return LM.load("smollm2-135m-instruct", test_settings)


@pytest.fixture(scope="session")
def minilm(test_settings):
    from pellucid.models import Encoder

    return Encoder.load("all-minilm-l6-v2", test_settings)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        message = f"shared data sets not found at {DATA}: set PELLUCID_DATA_DIR"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # CI runs every data-set test
        pytest.skip(message)
    return DATA
