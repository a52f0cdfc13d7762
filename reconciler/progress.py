"""Progress on a terminal: a live `label done/total` line on stderr, nothing when not a tty."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from .collectors.base import Progress


class TerminalProgress(Progress):
    def __init__(self, stream: TextIO = sys.stderr, interval: float = 0.1):
        self.stream, self.interval = stream, interval
        self.total, self.done, self.label, self._shown_at = 0, 0, "", 0.0
        self._lock = threading.Lock()  # collectors advance from worker threads

    def start(self, total: int, label: str) -> None:
        self.total, self.done, self.label = total, 0, label
        self._show(force=True)

    def advance(self, count: int = 1) -> None:
        with self._lock:
            self.done += count
            self._show(force=self.done >= self.total)

    def finish(self) -> None:
        self.stream.write("\r\033[K")
        self.stream.flush()

    def _show(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._shown_at >= self.interval:
            self._shown_at = now
            self.stream.write(f"\r\033[K{self.label}: {self.done}/{self.total}")
            self.stream.flush()


def progress_for(stream: TextIO, quiet: bool) -> Progress:
    return TerminalProgress(stream) if not quiet and stream.isatty() else Progress()
