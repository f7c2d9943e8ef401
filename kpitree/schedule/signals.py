"""The scheduler process's signals, taken by a thread of their own.

Python runs a signal's handler in the main thread only, when that thread next runs Python code,
while the kernel hands a signal sent to the process to any thread that does not block it.
APScheduler's loop keeps the main thread asleep until the next fire (a month, for a monthly
tree): a SIGTERM that landed on the run's worker, the control thread or a thread of the
warehouse's driver waited for that sleep to end (a process test saw more than 30 s). So the
``kpitree schedule`` command blocks the handled signals first of all, before any thread exists
(numpy's OpenBLAS starts its own on import), every thread inherits the mask, and one thread takes
them with ``sigwait``, whichever thread is asleep.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

HANDLED = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


def block_handled_signals() -> set[int | signal.Signals]:
    """Block :data:`HANDLED` in the calling thread, and so in every thread started after (a
    library's too): in a process of the scheduler's own, first of all. Returns the mask before."""
    return signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)


@contextmanager
def handled_signals_blocked() -> Iterator[None]:
    """:func:`block_handled_signals` for the ``with`` block, the scheduler command's body; the
    mask found is put back after it, so that an in-process caller (a test) keeps its own, and so
    do the processes it starts later (a child inherits its parent's mask)."""
    previous = block_handled_signals()
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def take_signals(stop: Callable[[], None], reload: Callable[[], None]) -> None:
    """SIGTERM and SIGINT call ``stop``, SIGHUP ``reload``, in a daemon thread. The handlers are
    installed as well: a thread that was started before :func:`block_handled_signals` (it should
    not be) would otherwise meet SIGTERM's default, ending the process without finishing the run."""
    signal.signal(signal.SIGTERM, lambda *_: stop())
    signal.signal(signal.SIGINT, lambda *_: stop())
    signal.signal(signal.SIGHUP, lambda *_: reload())
    block_handled_signals()

    def listen() -> None:
        while True:
            received = signal.sigwait(HANDLED)
            (reload if received == signal.SIGHUP else stop)()

    threading.Thread(target=listen, name="kpitree-signals", daemon=True).start()
