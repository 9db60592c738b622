"""Shared by the benchmark scripts: where the real datasets are."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def find_dataset(name: str) -> Path:
    """``<shared>/datasets/<name>``: ``$AUDITKIT_SHARED``, else ``../shared`` beside the checkout.

    Exits with a message saying where it looked when the dataset is absent."""
    env = os.environ.get("AUDITKIT_SHARED")
    bases = ([Path(env)] if env else []) + [ROOT.parent / "shared"]
    for base in bases:
        p = base / "datasets" / name
        if p.is_dir():
            return p.resolve()
    raise SystemExit(f"dataset {name!r} not found in {', '.join(str(b / 'datasets') for b in bases)} "
                     "(set AUDITKIT_SHARED, or see datasets/README.md)")
