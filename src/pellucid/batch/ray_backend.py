"""The Ray backend: blocks as a Ray Data dataset, mapped by an actor pool that loads the model once.

Each block becomes one dataset row ``{"block": b, "payload": pickle(items)}``; ``map_batches``
with ``batch_size=1`` and an :class:`~ray.data.ActorPoolStrategy` hands whole blocks to
:class:`BlockWorker` actors, whose constructor calls :meth:`Task.setup` (the model loads once per
actor, not per block). Each result comes back as ``{"block": b, "rows": pickle(rows)}`` and the
driver writes it — so only the driver touches the output file or the store, and workers on other
machines need no shared disk. Results stream back as blocks finish (``iter_batches``), in
whatever order they finish; the sink files them by block number.

A worker that dies mid-block (killed, out of memory) is restarted by Ray and its block retried;
if the whole job dies instead, the blocks already written are skipped when it is run again.
"""

from __future__ import annotations

import logging
import os
import pickle
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError, PellucidError

if TYPE_CHECKING:
    from pellucid.batch.runner import RayOptions
    from pellucid.batch.task import Task


class BlockWorker:
    """One Ray actor: owns a task (and its loaded model) and turns blocks into rows."""

    def __init__(self, task_bytes: bytes) -> None:
        self.task: Task = pickle.loads(task_bytes)  # cloudpickle output loads with plain pickle
        self.task.ensure_setup()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        blocks = [int(b) for b in batch["block"]]
        out = []
        for payload in batch["payload"]:
            out.append(pickle.dumps(self.task.run_block(pickle.loads(payload))))
        return {"block": blocks, "rows": out}


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise InvalidInputError(
            "The ray backend needs Ray: pip install 'pellucid[ray]' (or use --backend local)."
        ) from None
    return ray


#: Unix socket paths are limited to 107 bytes; Ray puts ``session_<date>_<pid>/sockets/plasma_store``
#: (about 70 more characters) under its temporary folder
_SOCKET_ROOM = 107 - 72


def local_dirs(home: Path, *, auth: bool = True) -> dict[str, Any]:
    """``ray.init`` arguments that keep a local Ray instance's files under the Pellucid home.

    Ray otherwise writes its session folders to the system temp folder and, since it turns token
    authentication on for every new local instance, a token to ``~/.ray/auth_token``. Here the
    token is ``<home>/ray/auth_token`` (made once, readable by its owner only) unless
    ``RAY_AUTH_MODE``/``RAY_AUTH_TOKEN``/``RAY_AUTH_TOKEN_PATH`` say otherwise, and the session
    folders go to ``<home>/ray/tmp`` when that path is short enough for Ray's sockets (else Ray's
    default). The environment variables are set for this process, so Ray's workers inherit them.
    Ray reads them when it is imported: with ``auth=False`` (Ray is imported already) they are left
    alone, since a driver and its cluster that disagree on authentication cannot talk.
    """
    root = home.expanduser().resolve() / "ray"
    kwargs: dict[str, Any] = {}
    if len(str(root / "tmp")) <= _SOCKET_ROOM:
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        kwargs["_temp_dir"] = str(root / "tmp")
    if auth and not any(os.environ.get(v) for v in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")):
        token = root / "auth_token"
        if not token.is_file():
            root.mkdir(parents=True, exist_ok=True)
            token.write_text(secrets.token_hex(32), encoding="utf-8")
            token.chmod(0o600)
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(token)
    return kwargs


def connect(address: str | None, num_cpus: int | None = None, home: Path | None = None) -> Any:
    """Join (or start) Ray once per process: ``None`` starts a local instance (its files under ``home``,
    see :func:`local_dirs`), else join ``address``."""
    # Ray's internal INFO/WARNING lines (deprecations, resource notes) are not the user's business
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": True}
    if address is None and home is not None:  # before Ray is imported: it reads its authentication settings then
        kwargs.update(local_dirs(home, auth="ray" not in sys.modules))
    ray = _ray()
    if ray.is_initialized():
        return ray
    if address is None:
        kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise InvalidInputError(
            f"Could not reach a Ray cluster at {address!r}: {exc}. Start one with `ray start --head`, "
            "or leave out --address to start Ray on this machine."
        ) from None
    return ray


def run_ray(
    task: Task, payloads: Iterator[tuple[int, list[dict[str, Any]]]], n_blocks: int, options: RayOptions
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Run the blocks on Ray; yield ``(block, rows)`` as each finishes."""
    if n_blocks == 0:
        return
    ray = connect(options.address, home=task.settings.home)
    from ray.data import ActorPoolStrategy, DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False  # the CLI draws its own bar from the blocks written
    context.print_on_execution_start = False
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    actors = options.actors or max(1, int(cpus // max(options.cpus_per_actor, 1e-9)))
    actors = max(1, min(actors, n_blocks))
    if task.threads is None and options.cpus_per_actor >= 1:
        task.threads = int(options.cpus_per_actor)
    rows = [{"block": b, "payload": pickle.dumps(items)} for b, items in payloads]
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
    mapped = dataset.map_batches(
        BlockWorker,
        fn_constructor_args=(ray.cloudpickle.dumps(task),),
        batch_size=1,
        compute=ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
        num_cpus=options.cpus_per_actor,
        num_gpus=options.gpus_per_actor or None,
        batch_format="numpy",
        zero_copy_batch=False,
    )
    try:
        for batch in mapped.iter_batches(batch_size=1, batch_format="numpy", prefetch_batches=0):
            for block, result in zip(batch["block"], batch["rows"]):
                yield int(block), pickle.loads(result)
    except Exception as exc:  # a task's own error arrives wrapped in Ray's; show the task's message
        cause = _user_error(exc)
        if cause is not None:
            raise cause from None
        raise


def _user_error(exc: BaseException) -> PellucidError | None:
    """The Pellucid error inside a Ray error chain, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, PellucidError):
            return current
        cause = getattr(current, "cause", None)
        if isinstance(cause, PellucidError):
            return cause
        current = current.__cause__ or current.__context__
    return None
