"""Progress on stderr with rate and ETA, for every step that can take more than a few seconds.

One switch for the whole process: :func:`set_enabled` (the CLI turns it on unless ``--quiet``;
library calls are silent by default). Output goes to stderr only, never into an output file.

The lines are drawn by tqdm (issue 17: a kept library rather than a hand-written meter); this
module keeps auditkit's small API (:class:`Progress`, :func:`track`, :func:`step`) so callers do
not depend on tqdm, and keeps the behaviour the audit needs in logs:

* On a terminal, tqdm's bar (count, rate, ETA) redraws one line at most five times a second.
* Elsewhere (CI logs, pipes) no bar and no carriage returns: a plain line at every 10% **and**
  at least every 15 seconds, so a long step never looks stuck on its first item and a log is
  not flooded.
* :func:`step` wraps a step without a count ("report: rendering ... done in 2.1 s").
"""
from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tqdm import tqdm

__all__ = ["Progress", "enabled", "set_enabled", "step", "track"]

T = TypeVar("T")
_ENABLED = [os.environ.get("AUDITKIT_PROGRESS", "") == "1"]
_LINE_EVERY_S = 15.0
_REDRAW_S = 0.2
_PLAIN = "{desc}: {n_fmt}/{total_fmt} ({percentage:.0f}%) {rate_fmt}, elapsed {elapsed}, eta {remaining}"


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


class _Lines:
    """A file for tqdm outside a terminal: each status as a plain line (no carriage returns)."""

    def __init__(self, owner: Progress):
        self._owner = owner

    def write(self, s: str) -> None:
        text = s.replace("\r", "").strip()
        if text:
            self._owner.stream.write(text + "\n")

    def flush(self) -> None:
        self._owner.stream.flush()


def _now() -> float:
    return time.monotonic()


class Progress:
    """A progress line for ``total`` items of work (a tqdm bar on a terminal, plain lines elsewhere).

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
        self._last_decile = -1
        self._closed = False
        self._bar = None
        if self.enabled:
            tty = self._tty()
            self._bar = tqdm(total=self.total, desc=label, unit=unit, file=self.stream if tty else _Lines(self),
                             mininterval=_REDRAW_S if tty else _LINE_EVERY_S, miniters=1, leave=tty,
                             delay=0.0 if tty else 1e-9, dynamic_ncols=tty, ascii=not tty,
                             position=None if tty else 0,  # nesting on a terminal; never cursor moves in logs
                             bar_format=None if tty else _PLAIN)
            # tqdm's clock, made ours (time.monotonic) so that tests can drive it
            self._bar._time = _now
            self._bar.start_t = self._bar.last_print_t = _now()

    @property
    def stream(self):
        return self._stream or sys.stderr

    def _tty(self) -> bool:
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def text(self) -> str:
        """The plain status line ("label: 3/10 (30%) 1.5it/s, elapsed 00:02, eta 00:04")."""
        el = (_now() - self._bar.start_t) if self._bar is not None else 0.0
        return tqdm.format_meter(self.done, self.total, el, prefix=self.label, unit=self.unit, bar_format=_PLAIN)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is None:
            return
        before = self._bar.last_print_n
        self._bar.update(n)
        decile = int(10 * self.done / self.total)
        if self._bar.last_print_n == before and (decile != self._last_decile or self.done >= self.total):
            self._bar.refresh()  # every 10% and at the end, whatever the time since the last line
            self._bar.last_print_n, self._bar.last_print_t = self._bar.n, _now()
        self._last_decile = decile
        if self.done >= self.total:
            self.close()  # finished: end the line now, not when the caller remembers to

    def close(self) -> None:
        """End the line (on a terminal, the bar stays as it stopped)."""
        if self._bar is not None and not self._closed:
            self._bar.close()
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
