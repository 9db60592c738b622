"""Progress on stderr with rate and ETA, for every step that can take more than a few seconds.

One switch for the whole process: :func:`set_enabled` (the CLI turns it on unless ``--quiet``;
library calls are silent by default). Output goes to stderr only, never into an output file.

* On a terminal, :class:`Progress` redraws one line (bar, count, rate, ETA) at most five times
  a second.
* Elsewhere (CI logs, pipes), it prints a line at every 10% **and** at least every 15 seconds,
  so a long step never looks stuck on its first item.
* :func:`step` wraps a step without a count ("report: rendering ... done in 2.1 s").

tqdm is not a dependency of auditkit (it is not in ``uv.lock``); this ~100-line module does
what the audit needs.
"""
from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

__all__ = ["Progress", "enabled", "set_enabled", "step", "track"]

T = TypeVar("T")
_ENABLED = [os.environ.get("AUDITKIT_PROGRESS", "") == "1"]
_LINE_EVERY_S = 15.0
_REDRAW_S = 0.2


def set_enabled(on: bool) -> None:
    """Turn progress output on or off for the whole process."""
    _ENABLED[0] = bool(on)


def enabled() -> bool:
    return _ENABLED[0]


def _fmt_s(s: float) -> str:
    if math.isnan(s) or math.isinf(s):
        return "?"
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """A progress line for ``total`` items of work.

    Parameters
    ----------
    label : what is being done ("faces", "table: measures").
    total : number of items (0: nothing is printed).
    enabled : None follows :func:`set_enabled`; True/False force it.
    stream : where to write (default: ``sys.stderr`` at the time of each write).
    """

    def __init__(self, label: str, total: int, *, enabled: bool | None = None, unit: str = "it", stream=None):
        self.label, self.total, self.done, self.unit = label, int(total), 0, unit
        self.enabled = (_ENABLED[0] if enabled is None else enabled) and self.total > 0
        self._stream = stream
        self.t0 = time.monotonic()
        self._last_draw = 0.0
        self._last_line = self.t0
        self._last_decile = -1
        self._closed = False

    @property
    def stream(self):
        return self._stream or sys.stderr

    def _tty(self) -> bool:
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def text(self) -> str:
        el = time.monotonic() - self.t0
        rate = self.done / el if el > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        pct = 100 * self.done / self.total if self.total else 100.0
        r = f"{rate:.1f}" if rate < 100 else f"{rate:.0f}"
        return (f"{self.label}: {self.done}/{self.total} ({pct:.0f}%) {r} {self.unit}/s, "
                f"elapsed {_fmt_s(el)}, eta {_fmt_s(eta) if self.done < self.total else '0s'}")

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        final = self.done >= self.total
        if self._tty():
            if final or now - self._last_draw >= _REDRAW_S or self.done == n:
                pct = int(100 * self.done / self.total)
                bar = "#" * (pct // 4) + "." * (25 - pct // 4)
                self.stream.write(f"\r[{bar}] {self.text()}\033[K")
                if final:
                    self.stream.write("\n")
                self.stream.flush()
                self._last_draw = now
            return
        decile = int(10 * self.done / self.total)
        if final or decile != self._last_decile or now - self._last_line >= _LINE_EVERY_S:
            self._last_decile = decile
            self._last_line = now
            self.stream.write(self.text() + "\n")
            self.stream.flush()

    def close(self) -> None:
        """End the line on a terminal if the work stopped early."""
        if self.enabled and not self._closed and self._tty() and self.done < self.total:
            self.stream.write("\n")
            self.stream.flush()
        self._closed = True


def track(items: Iterable[T], label: str, *, total: int | None = None, enabled: bool | None = None,
          unit: str = "it") -> Iterator[T]:
    """Iterate ``items`` with a :class:`Progress` line (``total`` defaults to ``len(items)``)."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = 0
    p = Progress(label, total, enabled=enabled, unit=unit)
    try:
        for x in items:
            yield x
            p.update()
    finally:
        p.close()


@contextmanager
def step(label: str, *, enabled: bool | None = None) -> Iterator[None]:
    """A step without a count: "label ..." then "label: done in 2.1s" on stderr."""
    on = _ENABLED[0] if enabled is None else enabled
    t0 = time.monotonic()
    if on:
        sys.stderr.write(f"{label} ...\n")
        sys.stderr.flush()
    yield
    if on:
        sys.stderr.write(f"{label}: done in {_fmt_s(time.monotonic() - t0)}\n")
        sys.stderr.flush()
