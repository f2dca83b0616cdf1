"""Handlers the pool tests run in spawned children (imported there by name)."""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Callable
from typing import Any


def probe(*, label: str = "probe") -> Callable[[dict[str, Any]], Any]:
    """A handler that does what each task asks: report, sleep, spin, raise or crash."""
    served = itertools.count(1)

    def handle(task: dict[str, Any]) -> Any:
        op = task["op"]
        if op == "whoami":
            with open("/proc/self/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode()
            return {
                "pid": os.getpid(),
                "ppid": os.getppid(),
                "label": label,
                "cmdline": cmdline,
                "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "POOL_TEST")},
                "numpy_loaded": "numpy" in sys.modules,
                "nice": os.nice(0),
            }
        if op == "order":
            return (task["tag"], next(served))
        if op == "sleep":
            time.sleep(task["seconds"])
            return os.getpid()
        if op == "spin":
            while True:  # burns a CPU until the pool kills this child
                pass
        if op == "raise":
            raise ValueError(task.get("message", "bad input"))
        if op == "crash":
            os._exit(3)
        raise AssertionError(op)

    return handle


def broken(**_: Any) -> Callable[[Any], Any]:
    """A factory that cannot build its handler (like a missing model)."""
    raise RuntimeError("no model at /nowhere")
