"""Block-wise, resumable result files: ``results.parquet`` or ``results.jsonl``.

A batch job writes each finished block of rows to ``<out>.parts/block-000012.<ext>``: first
to a temporary name, then renamed into place, so a block file is either complete or absent,
whatever kills the job. ``manifest.json`` in the same folder records the job's fingerprint
(task, parameters, input digest, block size). Running the same job again skips the blocks whose
files exist; a different job refuses to mix its rows in and says how to start over. When every
block is written, :meth:`BlockSink.finish` joins the blocks in block order into ``<out>``
(again through a temporary name) and removes the parts folder.

Rows are flat dicts. Strings, numbers, booleans, ``None`` and lists of numbers are stored as
they are (NaN inside a list is stored as ``None``, an empty list as ``None``); any other value
(a dict, a list of strings...) is stored as JSON text, so every block of a job has the same
columns whatever its content. :func:`read_results` reads either format.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pellucid.errors import InvalidInputError

FORMATS = (".parquet", ".jsonl")
MANIFEST = "manifest.json"


def output_format(path: Path) -> str:
    """The file format named by ``path``'s suffix, or a clear error."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInputError(
            f"--out {str(path)!r}: results are written as Parquet or JSON Lines; end the name in .parquet or .jsonl."
        )
    if suffix == ".parquet":
        _pyarrow()
    return suffix


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise InvalidInputError(
            "Writing .parquet needs pyarrow: pip install 'pellucid[ray]' (or pyarrow), or write .jsonl instead."
        ) from None
    return pyarrow


def flatten(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with every value Parquet and JSON can both hold the same way (see the module docstring)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, bool | int | float | str) or value is None:
            out[key] = value
        elif isinstance(value, list | tuple) and not value:
            out[key] = None  # neither numbers nor text: the column keeps its type in every block
        elif isinstance(value, list | tuple) and all(_number_or_none(v) for v in value):
            out[key] = [None if v is None or v != v else float(v) for v in value]
        else:
            out[key] = json.dumps(value, ensure_ascii=False, default=str)
    return out


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


class BlockSink:
    """Where a job's blocks go; see the module docstring.

    Args:
        out: the final file (``.parquet`` or ``.jsonl``).
        fingerprint: what identifies the job; a parts folder with another fingerprint is refused.
        n_blocks: how many blocks the job has.
        overwrite: start over, deleting an existing result file and parts folder.
    """

    def __init__(self, out: str | Path, fingerprint: Mapping[str, Any], n_blocks: int, *, overwrite: bool = False):
        self.out = Path(out)
        self.format = output_format(self.out)
        self.parts = self.out.with_name(self.out.name + ".parts")
        self.n_blocks = n_blocks
        self.fingerprint = json.loads(json.dumps(dict(fingerprint), sort_keys=True, default=str))
        if overwrite:
            shutil.rmtree(self.parts, ignore_errors=True)
            self.out.unlink(missing_ok=True)
        elif self.out.exists():
            raise InvalidInputError(
                f"{self.out} already exists; pass --overwrite to replace it, or choose another --out."
            )
        self._open()

    def _open(self) -> None:
        manifest = self.parts / MANIFEST
        if manifest.exists():
            saved = json.loads(manifest.read_text(encoding="utf-8"))
            if saved.get("fingerprint") != self.fingerprint:
                raise InvalidInputError(
                    f"{self.parts} holds blocks of a different job (other data, task or parameters); "
                    "rerun the same command to resume it, or pass --overwrite to start over."
                )
            return
        self.parts.mkdir(parents=True, exist_ok=True)
        body = {"fingerprint": self.fingerprint, "n_blocks": self.n_blocks, "format": self.format}
        _atomic_write_text(manifest, json.dumps(body, indent=2))

    def block_path(self, block: int) -> Path:
        return self.parts / f"block-{block:06d}{self.format}"

    def done(self) -> set[int]:
        """Blocks already written (by this run or an earlier, interrupted one)."""
        return {b for b in range(self.n_blocks) if self.block_path(b).exists()}

    def write(self, block: int, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write one block's rows; writing a block twice keeps one copy (the rows are the same)."""
        path = self.block_path(block)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        flat = [flatten(r) for r in rows]
        columns = list(dict.fromkeys(k for r in flat for k in r))  # rows of several kinds: every column in each
        flat = [{k: r.get(k) for k in columns} for r in flat]
        if self.format == ".jsonl":
            with tmp.open("w", encoding="utf-8") as handle:
                for r in flat:
                    handle.write(json.dumps(r, ensure_ascii=False, allow_nan=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        else:
            pa = _pyarrow()
            pa.parquet.write_table(pa.Table.from_pylist(flat), tmp)
        os.replace(tmp, path)

    def finish(self) -> Path:
        """Join every block into ``out`` in block order and remove the parts folder."""
        missing = sorted(set(range(self.n_blocks)) - self.done())
        if missing:
            raise InvalidInputError(f"Blocks {missing[:10]} of {self.n_blocks} are not written yet; resume the job.")
        tmp = self.out.with_name(self.out.name + ".tmp")
        paths = [self.block_path(b) for b in range(self.n_blocks)]
        if self.format == ".jsonl":
            with tmp.open("wb") as target:
                for path in paths:
                    with path.open("rb") as source:
                        shutil.copyfileobj(source, target)
        else:
            pa = _pyarrow()
            tables = [pa.parquet.read_table(p) for p in paths]
            tables = [t for t in tables if t.num_rows] or tables[:1]
            table = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
            pa.parquet.write_table(table, tmp)
        os.replace(tmp, self.out)
        shutil.rmtree(self.parts, ignore_errors=True)
        return self.out


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a finished result file (``.parquet`` or ``.jsonl``), in block order."""
    path = Path(path)
    fmt = output_format(path)
    if not path.is_file():
        raise InvalidInputError(f"Result file {str(path)!r} does not exist.")
    if fmt == ".jsonl":
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    pa = _pyarrow()
    return list(pa.parquet.read_table(path).to_pylist())


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
