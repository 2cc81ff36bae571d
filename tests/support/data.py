"""Where the shared data sets (SST-2, CrowS-Pairs, UD English EWT) are on this machine.

They are never copied into the repository. Looked up in order: ``PELLUCID_DATA_DIR``, the
``shared/data`` folder next to the checkout, and ``/work/shared/data`` (where they live on the
development and CI machines, whatever folder the checkout was cloned into).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = [
    *([Path(os.environ["PELLUCID_DATA_DIR"])] if os.environ.get("PELLUCID_DATA_DIR") else []),
    REPO.parent / "shared" / "data",
    Path("/work/shared/data"),
]


def find_data_dir() -> Path:
    """The first candidate that exists (the first one, for messages, when none does)."""
    return next((p for p in CANDIDATES if p.is_dir()), CANDIDATES[0])
