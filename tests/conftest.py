"""Shared fixtures. Real datasets come from ../shared/datasets (read-only) and are skipped,
with the reason, where absent; the core of the suite runs on data the tests generate."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _find_shared() -> Path | None:
    env = os.environ.get("AUDITKIT_SHARED")
    candidates = [Path(env)] if env else []
    candidates += [ROOT.parent / "shared", ROOT / ".." / ".." / "shared"]
    for c in candidates:
        if (c / "datasets").is_dir():
            return c.resolve()
    return None


SHARED = _find_shared()


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """../shared/datasets, or skip with the reason. Never write into it."""
    if SHARED is None:
        pytest.skip("../shared/datasets not found (set AUDITKIT_SHARED to the folder holding datasets/)")
    return SHARED / "datasets"


def shared_dataset(name: str) -> Path:
    """Path of one shared dataset, or skip naming it."""
    if SHARED is None or not (SHARED / "datasets" / name).is_dir():
        pytest.skip(f"shared dataset {name!r} not found under ../shared/datasets")
    return SHARED / "datasets" / name
