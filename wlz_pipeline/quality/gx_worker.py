"""A Great Expectations worker process, warmed up while the run does other work.

``import great_expectations`` takes 5-12 s on the 2-core server (it imports pandas,
SQLAlchemy, SciPy and Altair), and it is pure Python: a thread cannot overlap it with
anything else. A run that validates at all paid it in full before its first suite; on
an incremental night that was about a tenth of the night (issue 9). So each Dagster run
starts one worker process when its first step opens the warehouse
(``assets/resources.py``): the worker imports GX on the other core while ingestion and
the first models run, and every suite and Data Docs build of the run then goes to it.
The run's own process never imports GX.

The worker runs the same functions as an inline call would (``run(fn, *args)``: a
module-level function and picklable arguments), one at a time, and holds no warehouse
connection between calls, so the run's process may open the warehouse read-write again
as soon as a call returns (DuckDB allows one writing process per file). An exception
raised in the worker is raised again by ``run``. If the worker has died, ``run`` says so
in the log and calls the function inline instead: a lost worker costs time, never a
result. ``quality.gx_worker: false`` in config/settings.yaml turns the worker off, and so does a
run whose steps run side by side (``run.concurrent_steps`` above 1): while other steps
hold the warehouse open, no other process can open it, so GX validates in the run's own
process (wlz_pipeline/executor.py), where it imports beside the first steps instead.

The worker is started by ``wlz run`` before Dagster is imported (``cli.run_pipeline``), so
that the GX import overlaps Dagster's start-up, and otherwise by the first step of a run
that opens the warehouse
(``WarehouseResource.connect``) and waits, idle, between calls. It exits with the run's
process: at a normal exit (it is a daemon process), and also when the process ends
without one (``wlz run`` leaves by ``os._exit``; its end of the pipe closes). ``stop``
ends it at once.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.util
import os
import sys
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

_lock = threading.Lock()
#: One GX call at a time in this process when the run's steps run side by side.
_inline_lock = threading.Lock()
_worker: _Worker | None = None


class WorkerGone(RuntimeError):
    """The worker process died or its pipe broke."""


def _serve(conn: Connection) -> None:
    """The worker process: serve the run's calls, then leave without the interpreter's
    teardown. GX's SQLAlchemy engines keep DuckDB objects alive to the end, and at
    teardown DuckDB's bindings (nanobind) print some forty "leaked instance/type/function"
    lines, harmless, into the run's log; the worker holds nothing that needs a teardown
    (no warehouse connection outlives a call, every file it writes is closed). The
    multiprocessing objects GX's libraries made (a tqdm lock) are released first, as at a
    normal exit, or the resource tracker would warn of them instead."""
    _serve_calls(conn)
    multiprocessing.util._exit_function()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _serve_calls(conn: Connection) -> None:
    """The worker's main loop: warm up, then run each call sent until told to stop."""
    import great_expectations  # noqa: F401 - the point: import it before it is needed

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent went away
            return
        if message is None:
            return
        fn, args = message
        try:
            reply = (True, fn(*args))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
            reply = (False, _portable(exc))
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - e.g. a value that does not pickle
            conn.send((False, RuntimeError(f"the GX worker could not send its reply: {exc}")))


def _portable(exc: BaseException) -> BaseException:
    """The exception to send back: ours and the built-in ones as they are (the caller
    may catch them by type), anything else (GX's own) as a RuntimeError with its text,
    so that unpickling it does not import GX in the run's process; the worker's
    traceback goes along as a note."""
    where = "in the GX worker:\n" + "".join(traceback.format_exception(exc))
    module = type(exc).__module__
    if not (module == "builtins" or module.startswith("wlz_pipeline")):
        exc = RuntimeError(f"{module}.{type(exc).__name__}: {exc}")
    exc.add_note(where)
    return exc


class _Worker:
    def __init__(self) -> None:
        # spawn, not fork: the run's process has threads (Dagster's, DuckDB's), and a
        # forked child of a threaded process may deadlock
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child,), name="wlz-gx-worker")
        self.process.daemon = True
        self.process.start()
        child.close()

    def call(self, fn: Callable[..., T], args: tuple) -> T:
        try:
            self.conn.send((fn, args))
            ok, value = self.conn.recv()
        except (EOFError, OSError, BrokenPipeError) as exc:
            raise WorkerGone(f"the GX worker (pid {self.process.pid}) is gone: {exc}") from exc
        if ok:
            return value
        raise value

    def stop(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(None)
        self.process.join(timeout)
        if self.process.is_alive():  # still importing GX: no call can be lost
            self.process.terminate()
            self.process.join(timeout)
        self.conn.close()


def enabled() -> bool:
    from wlz_pipeline.settings import load_settings

    s = load_settings()
    # a run whose steps run side by side validates in its own process (``run``)
    return s.quality.gx_worker and s.run.concurrent_steps == 1


def start() -> bool:
    """Start this process's worker (idempotent); False when the setting turns it off."""
    global _worker
    worker = _worker
    if worker is not None and worker.process.is_alive():
        return True
    if not enabled():
        return False
    with _lock:
        if _worker is None or not _worker.process.is_alive():
            _worker = _Worker()
    return True


def stop() -> None:
    """Stop this process's worker, if any (end of the run)."""
    global _worker
    with _lock:
        worker, _worker = _worker, None
    if worker is not None:
        worker.stop()


def pid() -> int | None:
    """The worker's process id (None without a worker)."""
    worker = _worker
    return None if worker is None else worker.process.pid


def run(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the worker when this process has one, else here. ``fn`` must be a
    module-level function and ``args`` picklable. A warehouse this process holds open
    (``warehouse.held_open``) is released first: the worker, or GX's own engine here, opens
    the file itself; except while the run's steps share it (``warehouse.shared``), when
    ``fn`` runs here, one call at a time, and GX's engine joins the open database."""
    from wlz_pipeline import warehouse

    global _worker
    if warehouse.shared():
        # steps running side by side hold the warehouse open in this process, so no other
        # process can open it: GX runs here, one call at a time (wlz_pipeline/executor.py)
        with _inline_lock:
            return fn(*args)
    warehouse.release()
    with _lock:
        worker = _worker
        if worker is not None:
            try:
                return worker.call(fn, args)
            except WorkerGone as exc:
                log.warning("%s; running %s in the run's process instead", exc, fn.__name__)
                _worker = None
    return fn(*args)
