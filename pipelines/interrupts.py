"""Ctrl-C that is neither lost nor delivered inside the HDF5 library.

Python runs its SIGINT handler between bytecodes, wherever the main thread is. Two places are
bad: a finaliser (h5py and dask objects have them), where the KeyboardInterrupt is printed and
swallowed so that the run goes on; and Python code that HDF5 calls back while it writes (the
file-object driver of :func:`slsim.pipelines.ensemble.create_ensemble`), where the exception
leaves the library broken and the process crashes at exit. :func:`watched` covers the first
(the interrupt is also remembered and raised again at the next :func:`interruption_point`),
:func:`deferred` the second (the interrupt is only remembered while HDF5 writes).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

_PENDING = threading.Event()


def interruption_point() -> None:
    """Raise the KeyboardInterrupt that was held back or swallowed, if any."""
    if _PENDING.is_set():
        _PENDING.clear()
        raise KeyboardInterrupt


@contextlib.contextmanager
def _sigint_handler(handler: Callable[[int, Any], None]) -> Iterator[bool]:
    """Install ``handler`` for SIGINT (main thread, SIGINT not ignored); yield whether it was."""
    previous = signal.getsignal(signal.SIGINT)
    main = threading.current_thread() is threading.main_thread()
    if not main or previous is signal.SIG_IGN:
        yield False
        return
    signal.signal(signal.SIGINT, handler)
    try:
        yield True
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)


@contextlib.contextmanager
def watched() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt at once and is also remembered for the next
    :func:`interruption_point`, in case a finaliser swallowed it."""

    def handler(signum: int, frame: Any) -> None:
        _PENDING.set()
        raise KeyboardInterrupt

    try:
        with _sigint_handler(handler):
            yield
    finally:
        _PENDING.clear()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Ctrl-C is only remembered inside the block; it is raised at an
    :func:`interruption_point` in the block (outside HDF5 calls) or when the block ends."""
    with _sigint_handler(lambda signum, frame: _PENDING.set()):
        yield
    interruption_point()
