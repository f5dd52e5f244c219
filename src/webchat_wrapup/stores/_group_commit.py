"""Group commit: saves from several threads written in one transaction.

A store with one writer connection serialises its writes behind a lock.
Handing that lock from thread to thread costs more than the write itself:
the thread that gets the lock must also get Python's interpreter lock,
which the releasing thread keeps while it prepares its next command, so
the writer connection stands idle meanwhile, and two threads got less
done than one.

So a thread that finds the lock taken queues its save and waits for the
lock; whichever thread holds the lock next writes every save queued by
then, in one transaction and one commit. A thread whose save another
thread wrote finds it done when it gets the lock, and only gives its
answer back. A thread alone never queues: it takes the free lock and
writes its own save as before.

The store writes each save of a batch of several behind a savepoint of its
own, so one save's refusal (a version conflict, say) leaves the others
written; a failure of the transaction itself (the disk) fails them all,
and none is written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

MAX_BATCH = 64
"""Saves written in one transaction at most; more wait for the next."""


class QueuedSave:
    """One save (all of its changes or none) and how it ended."""

    __slots__ = ("done", "error", "work")

    def __init__(self, work: Any) -> None:
        self.work = work
        self.done = False
        self.error: BaseException | None = None

    def answer(self) -> None:
        """Raise the save's error, if it failed."""
        if self.error is not None:
            raise self.error


Writer = Callable[[list[QueuedSave]], None]
"""Writes a batch in one transaction, under the lock; marks each save done
(with its error, if it failed) once the transaction has ended."""


class SaveQueue:
    """The saves waiting for the writer's lock."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._guard = threading.Lock()
        self._queued: list[QueuedSave] = []

    def run(self, save: QueuedSave, write: Writer) -> None:
        """Write ``save``: at once if the lock is free, else with the next
        batch (written by this thread or by another)."""
        lock = self._lock
        if lock.acquire(blocking=False):
            batch = [save, *self._take()] if self._queued else [save]
        else:
            with self._guard:
                self._queued.append(save)
            lock.acquire()
            batch = [] if save.done else self._take()
        try:
            while batch:  # ``save`` is in this batch, or still queued
                self._write(batch, save, write)
                batch = [] if save.done else self._take()
        finally:
            lock.release()

    def _write(self, batch: list[QueuedSave], save: QueuedSave, write: Writer) -> None:
        try:
            write(batch)
        except BaseException:
            # Nothing of the batch was written: the other threads' saves go
            # back to the queue for the next holder of the lock.
            self._put_back([queued for queued in batch if queued is not save])
            raise

    def _take(self) -> list[QueuedSave]:
        with self._guard:
            taken = self._queued[:MAX_BATCH]
            del self._queued[:MAX_BATCH]
        return taken

    def _put_back(self, saves: list[QueuedSave]) -> None:
        with self._guard:
            self._queued[:0] = [save for save in saves if not save.done]
