"""Threads that let a release read, compute and write at the same time (two cores: PostgreSQL
and the Arrow reads on one side, Polars and the writers on the other). Reading and writing spend
their time in C (libpq, ADBC, Arrow, Polars, zstd, SHA-256) with the GIL released."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator

_END = object()


class Background:
    """Jobs run in a thread of their own, one after the other in the order given; `submit`
    waits while `depth` jobs are queued, so that memory stays bounded. A job's exception is
    raised again by the next `submit` or by `close`."""

    def __init__(self, depth: int):
        self._jobs: queue.Queue = queue.Queue(depth)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="export-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not _END:
            if self._error is None:
                fn, args = job
                try:
                    fn(*args)
                except BaseException as exc:  # handed to the caller's thread
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, fn: Callable, *args) -> None:
        self._raise()
        self._jobs.put((fn, args))

    def close(self) -> None:
        """Wait for the queued jobs; raise what one raised (once)."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(_END)
        self._thread.join()
        self._raise()


def prefetched(items: Iterator, depth: int = 1) -> Iterator:
    """`items`, produced in a thread of their own up to `depth` ahead of the consumer."""
    ready: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ready.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put((_END, None))
        except BaseException as exc:  # handed to the consumer
            ready.put((_END, exc))

    thread = threading.Thread(target=produce, name="export-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # let a producer blocked on a full queue see the stop
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.1)
