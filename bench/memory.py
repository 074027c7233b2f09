"""Resident memory of the benchmark process (and, optionally, its children: the Spark JVM)."""

from __future__ import annotations

import threading
import time

import psutil


class MemorySampler:
    """Samples the resident set every ``interval_s`` while the ``with`` block runs.

    ``samples`` keeps every reading (to show flatness: first, peak, last); ``with_children`` adds
    the child processes, which is where Spark's JVM lives.
    """

    def __init__(self, *, with_children: bool = False, interval_s: float = 0.1) -> None:
        self.samples: list[int] = []
        self.with_children = with_children
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    def _resident(self, me: psutil.Process) -> int:
        total = me.memory_info().rss
        if self.with_children:
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass  # a child that ended between listing and reading
        return total

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            self.samples.append(self._resident(me))
            time.sleep(self.interval_s)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
