"""Distractor identities (issue 14): people who are not in the release, added to the gallery.

``--distractors DIR`` takes any ``DIR/<identity>/<images>`` folder (e.g. LFW identities) and
adds it to the attacker's gallery before any attack runs, so every attack (naive, parrot,
learned, ...) sees them exactly like gallery identities (the parrot and learned attacks
obfuscate them as they obfuscate the gallery) and rank-1 is *measured* at the larger gallery
size. A distractor folder named like a gallery identity or a release subject is left out with a
note: it would not be a distractor.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .inputs import Gallery, GalleryItem, load_gallery

__all__ = ["PREFIX", "add_distractors"]

#: prefix of distractor identity labels and file paths in results.json
PREFIX = "distractor:"


def add_distractors(gallery: Gallery, folder: str | Path, *, release_subjects: set[str],
                    notes: list[str]) -> Gallery:
    """``gallery`` with the identities of ``folder`` added (labels and paths prefixed ``distractor:``).

    Parameters
    ----------
    gallery : the attacker's gallery as loaded.
    folder : ``folder/<identity>/<images>``.
    release_subjects : ground-truth subjects of the release (a distractor must not be one).
    notes : audit notes; what was added and left out is appended.

    Raises
    ------
    InputError
        When ``folder`` is missing or holds fewer than two identities (from :func:`load_gallery`).
    """
    extra = load_gallery(folder)
    taken = set(gallery.identities) | set(release_subjects)
    clash = sorted({it.identity for it in extra.items if it.identity in taken})
    items = [GalleryItem(replace(it.file, rel=f"{PREFIX}{it.file.rel}"), f"{PREFIX}{it.identity}")
             for it in extra.items if it.identity not in taken]
    added = sorted({it.identity for it in items})
    notes.append(f"{len(added)} distractor identities ({len(items)} files) from {extra.root} added to the gallery "
                 f"({len(gallery.identities)} identities): rank-1 is measured among "
                 f"{len(gallery.identities) + len(added)} identities")
    if clash:
        notes.append(f"distractor folder(s) named like a gallery identity or release subject left out: "
                     f"{', '.join(clash[:10])}{' ...' if len(clash) > 10 else ''}")
    skipped = gallery.skipped + [replace(s, path=f"{PREFIX}{s.path}") for s in extra.skipped]
    return Gallery(gallery.root, gallery.items + items, skipped, gallery.notes + list(extra.notes))
