"""LiteLLM's proxy server in front of the benchmark's upstream: the peer of ``bench_proxy.py --peer litellm``.

LiteLLM is the most used open-source OpenAI-compatible gateway in Python (FastAPI on uvicorn,
like Pellucid). :func:`litellm_proxy` runs it as its own process from ``./.venv-litellm``
(``scripts/litellm_env.sh`` makes it, with a pinned version), configured with one model,
``fast``, that it forwards to the upstream as an OpenAI-compatible server, so the load
generator sends it exactly the requests it sends Pellucid.

How it runs, so the comparison is stated: one worker process (its default); no database, so
it keeps no record of the calls (Pellucid logs every call to SQLite in the same benchmark); no
master key (LiteLLM refuses to start without one unless told that this is local use: the
server listens on the loopback address only); its model cost map read from its package instead
of downloaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.loopback import free_port, wait_healthy  # noqa: E402

LITELLM = REPO / ".venv-litellm" / "bin" / "litellm"


def check_installed() -> None:
    """Raise ``SystemExit`` with the command to run when ``./.venv-litellm`` is missing."""
    if not LITELLM.exists():
        raise SystemExit(f"--peer litellm needs LiteLLM's proxy in {LITELLM.parent.parent}: run scripts/litellm_env.sh")


def _config(upstream: str, folder: Path) -> Path:
    """A LiteLLM config with the model ``fast`` served by the OpenAI-compatible ``upstream`` (its ``/v1`` URL)."""
    path = folder / "litellm.yaml"
    path.write_text(
        "model_list:\n"
        "  - model_name: fast\n"
        "    litellm_params:\n"
        "      model: openai/fast\n"
        f"      api_base: {upstream}\n"
        "      api_key: none\n"
    )
    return path


@contextmanager
def litellm_proxy(upstream: str, folder: Path, timeout: float = 120.0) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Start LiteLLM's proxy for ``upstream`` (working files in ``folder``); yield its port and process.

    It inherits the caller's CPU affinity (``bench_proxy`` starts it pinned as it pins Pellucid).
    """
    check_installed()
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no download at start-up
        "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",  # loopback only, see the module docstring
        "LITELLM_LOG": "ERROR",
    }
    log_path = folder / "litellm.log"
    cmd = [str(LITELLM), "--config", str(_config(upstream, folder)), "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health/liveliness", proc, log_path, timeout, "LiteLLM's proxy")
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
