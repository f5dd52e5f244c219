"""Group commit: saves from several threads written in one transaction.

A store with one writer connection serialises its writes behind a lock.
Threads that took turns at that lock got less done than one thread alone:
the thread given the lock must also get Python's interpreter lock, which
the thread that let go keeps while it prepares its next command, so the
connection stood idle at every turn; and each save paid for its own
commit (with ``synchronous=FULL``, a sync of the disk).

So one thread at a time writes: a thread that finds another writing queues
its save and sleeps until it is written. The writing thread writes every
save queued before it commits (up to ``MAX_BATCH``) in its transaction; a
save queued while it commits is written by it too, in its next
transaction: it goes on until the queue is empty. A thread alone writes
its own save as before. One commit then
serves every thread that waited, and the threads that wait do not compete
for the interpreter.

The store writes each save of a batch of several behind a savepoint of its
own (or as one statement, which undoes itself when refused), so one save's
refusal (a version conflict, say) leaves the others written; a failure of
the transaction itself (the disk) fails them all, and none is written.

A thread that finds nobody writing and the store's lock free takes the lock
and writes its save at once, without queueing it (``SQLiteStore.save``).
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


Writer = Callable[[list[QueuedSave], Callable[[], list[QueuedSave]]], None]
"""Writes a batch in one transaction, under the lock, with the saves the
second argument hands over until the commit; marks each save done (with
its error, if it failed) once the transaction has ended."""


class SaveQueue:
    """The saves waiting to be written, and whether a thread is writing."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        # The condition's own lock, entered directly where nothing waits or
        # is woken: ``with`` on a Condition costs a Python call more.
        self._mutex = threading.Lock()
        self._ready = threading.Condition(self._mutex)
        self._queued: list[QueuedSave] = []
        self._writing = False
        self._waiting = 0

    @property
    def writing(self) -> bool:
        """Whether a thread is writing saves of the queue (read without the
        condition's lock: a save that finds nobody, then takes the store's
        lock, writes alone before or after the next writer)."""
        return self._writing

    def run(self, save: QueuedSave, write: Writer) -> None:
        """Write ``save``, and whatever else is queued, unless a thread is
        writing already: then wait until that thread has written it (or has
        finished without it, leaving it to this one)."""
        with self._mutex:
            if self._writing:
                self._queued.append(save)
                if not self._wait_for(save):
                    return  # written by another thread
                self._queued.remove(save)  # left to this one
            self._writing = True
        try:
            with self._lock:
                # Its own save first, joined by those queued until the commit.
                batch = [save]
                while batch:
                    self._write(batch, write, save)
                    batch = self._next_batch()
        except BaseException:
            with self._mutex:
                self._writing = False
                self._ready.notify_all()
            raise

    def _next_batch(self) -> list[QueuedSave]:
        """The saves to write next; none (and nobody writing) once the queue
        is empty. The waiting threads are woken: theirs may be written."""
        with self._mutex:
            if self._waiting:
                self._ready.notify_all()
            batch = self._take()
            if not batch:
                self._writing = False
            return batch

    def _wait_for(self, save: QueuedSave) -> bool:
        """Sleep until ``save`` is written or nobody is writing (the
        condition's lock held); whether it is left to this thread."""
        self._waiting += 1
        try:
            while self._writing and not save.done:
                self._ready.wait()
        finally:
            self._waiting -= 1
        return not save.done

    def _write(self, batch: list[QueuedSave], write: Writer, own: QueuedSave) -> None:
        taken = list(batch)

        def more() -> list[QueuedSave]:
            if not self._queued:  # read without the lock: a save queued just
                return []  # after this goes in the next batch instead
            with self._mutex:
                extra = self._take(MAX_BATCH - len(taken))
            taken.extend(extra)
            return extra

        try:
            write(batch, more)
        except BaseException:
            # Nothing of the batch was written: the other threads' saves go
            # back to the queue, for them to write; this thread's is given up.
            with self._mutex:
                self._queued[:0] = [
                    save for save in taken if save is not own and not save.done
                ]
            raise

    def _take(self, most: int = MAX_BATCH) -> list[QueuedSave]:
        """Up to ``most`` queued saves, oldest first (the condition's lock held)."""
        taken = self._queued[:most]
        del self._queued[:most]
        return taken
