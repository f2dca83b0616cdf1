"""The loop a pool's child process runs: pin its threads, build its handler, answer tasks."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)
# How often a child checks that its parent is still alive (s).
PARENT_CHECK_SECONDS = 0.5
# Libraries that size their thread pools from the environment when they load.
_THREAD_POOL_MODULES = ("numpy", "ctranslate2", "torch", "onnxruntime")


@dataclass(frozen=True)
class WorkerSpec:
    """What a child builds once at start: factory ("module:callable") called with options."""

    factory: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> Callable[[Any], Any]:
        """Import the factory and call it; the handler it returns answers each task."""
        module_name, _, attr = self.factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        handler: Callable[[Any], Any] = factory(**self.options)
        return handler


def serve(
    conn: Connection, spec: WorkerSpec, env: Mapping[str, str], parent_pid: int, nice: int
) -> None:
    """Entry point of a child: set env, build the handler, then answer tasks until told to stop."""
    # Before anything loads numpy/BLAS: those read their thread counts once, at load time.
    os.environ.update(env)
    if nice:
        # Behind the parent for the CPU: the API answers at once while the children compute,
        # and the children still get every cycle the API does not use.
        os.nice(nice)
    loaded = [m for m in _THREAD_POOL_MODULES if m in sys.modules]
    if loaded:
        log.warning("%s loaded before the worker's thread settings applied", ", ".join(loaded))
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_when_orphaned(parent_pid)
    try:
        handler = spec.build()
    except BaseException as exc:
        conn.send(("start_failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        task_id, payload = message
        try:
            reply: tuple[Any, ...] = ("ok", task_id, handler(payload))
        except Exception as exc:
            reply = ("error", task_id, f"{type(exc).__name__}: {exc}")
        try:
            conn.send(reply)
        except (BrokenPipeError, EOFError):
            return
        except Exception as exc:  # a result that does not pickle
            conn.send(("error", task_id, f"{type(exc).__name__}: {exc}"))


def _exit_when_orphaned(parent_pid: int) -> None:
    """Exit as soon as the parent is gone, even mid-task (a SIGKILLed server leaves no orphans)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
