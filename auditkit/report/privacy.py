"""Private by default: identity labels become stable pseudonyms ("person 07") in the report."""
from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

__all__ = ["Pseudonyms", "all_labels"]


class Pseudonyms:
    """Stable pseudonyms ('person 07') for identity labels, in sorted label order."""

    def __init__(self, labels: list[str], *, reveal: bool):
        self.reveal = reveal
        width = max(2, len(str(len(labels))))
        self.map = {lab: f"person {i + 1:0{width}d}" for i, lab in enumerate(sorted(set(labels)))}

    def __call__(self, label: Any) -> str:
        if label is None:
            return "unknown"
        if self.reveal:
            return str(label)
        return self.map.get(label, "person ?")

    def text(self, text: Any) -> str:
        """Replace identity labels used as gallery folder names (``label/``) in free text."""
        text = str(text)
        if self.reveal or not self.map:
            return text
        if not hasattr(self, "_rx"):
            alts = "|".join(re.escape(l) for l in sorted(self.map, key=len, reverse=True))
            self._rx = re.compile(rf"(?<![\w/])({alts})(?=/)")
        return self._rx.sub(lambda m: self.map[m.group(1)], text)

    def path(self, path: str) -> str:
        """Hide the identity folder of a gallery path (gallery/<identity>/file)."""
        if self.reveal:
            return path
        parts = PurePosixPath(path).parts
        if len(parts) >= 3 and parts[0] == "gallery":
            return str(PurePosixPath("gallery", self(parts[1]), "…"))
        return path


def all_labels(results: dict) -> list[str]:
    """Every identity label a results dictionary mentions (attacks, gallery folders, gait probes)."""
    labs: set[str] = set()
    for a in results.get("attacks", []):
        for row in a.get("details", {}).get("per_subject", []):
            labs.add(row["subject"])
        for row in a.get("details", {}).get("matches", []):
            labs.update(row.get("candidates", []))
            if row.get("truth"):
                labs.add(row["truth"])
    for f in ((results.get("inputs") or {}).get("gallery") or {}).get("files") or []:
        parts = PurePosixPath(f["path"]).parts
        if len(parts) >= 2:
            labs.add(parts[0])
    if (results.get("evaluation") or {}).get("kind") == "gait":  # probe folders are <subject>/...
        for f in ((results.get("inputs") or {}).get("release") or {}).get("files") or []:
            parts = PurePosixPath(f["path"]).parts
            if len(parts) >= 2:
                labs.add(parts[0])
    return sorted(labs)


