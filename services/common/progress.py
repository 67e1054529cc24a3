"""Progress of a long operator command (``mtlid ledger verify`` on a million entries), on
stderr and only when stderr is a terminal: scripts and CI get the command's JSON on stdout
and nothing else."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``verify: leaves 420,000 / 1,000,000 (42 %)``, redrawn in place at most every
    ``interval`` seconds; ``finish()`` clears the line so the JSON result starts clean."""

    def __init__(self, label: str, *, stream: TextIO | None = None, interval: float = 0.2,
                 force: bool = False) -> None:
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.enabled = force or (hasattr(self.stream, "isatty") and self.stream.isatty())
        self.interval = interval
        self._last = 0.0
        self._width = 0

    def __call__(self, stage: str, done: int, total: int | None = None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < self.interval and (total is None or done < total):
            return
        self._last = now
        line = f"{self.label}: {stage} {done:,}"
        if total:
            line += f" / {total:,} ({100 * done // total} %)"
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def finish(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
