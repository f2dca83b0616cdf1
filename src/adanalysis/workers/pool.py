"""A pool of spawned worker processes with one fair queue, shared by every job of a process."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import itertools
import logging
import multiprocessing
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from adanalysis.workers.child import WorkerSpec, serve

log = logging.getLogger(__name__)
# Who a task is for (a job id): the queue serves owners in turn, so jobs share the workers.
work_owner: ContextVar[str] = ContextVar("work_owner", default="")
# Children that die before they are ready this many times in a row break the pool.
MAX_START_FAILURES = 3
STOP_GRACE_SECONDS = 2.0

__all__ = ["WorkerSpec", "work_owner"]


class WorkerError(RuntimeError):
    """A task the pool could not complete."""


class WorkerCrashed(WorkerError):
    """The child running the task died (a crash, or killed by the system) before answering."""


class WorkerTaskError(WorkerError):
    """The task's handler raised in the child; the message names the exception."""


class WorkerStartError(WorkerError):
    """The pool's children cannot start (their handler failed to build, or they keep dying)."""


def available_cores() -> int:
    """The CPUs this process may run on (affinity-aware, so right inside a pinned container)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class WorkerState:
    """One child as seen from the parent."""

    pid: int | None
    ready: bool
    owner: str | None  # whose task it runs now, None when idle


class _Task:
    def __init__(self, task_id: int, owner: str, payload: Any) -> None:
        self.id = task_id
        self.owner = owner
        self.payload = payload
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.abandoned = False


class _Worker:
    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.ready = False
        self.task: _Task | None = None


class WorkerPool:
    """N spawned children, each building its handler once; tasks are served owner by owner."""

    # A thread of the parent talks to the children (it only waits on pipes), so the pool is
    # independent of any event loop: async callers await `run`, sync ones `submit(...).result()`.

    def __init__(
        self,
        spec: WorkerSpec,
        *,
        size: int,
        env: Mapping[str, str] | None = None,
        nice: int = 0,
        name: str = "worker",
    ) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        self.spec = spec
        self.size = size
        self.env = dict(env or {})
        self.nice = nice  # added to the children's niceness: they yield the CPU to the parent
        self.name = name
        self.broken: str | None = None  # why the children cannot start
        self.replaced = 0  # children replaced after a crash or a kill
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._queues: OrderedDict[str, deque[_Task]] = OrderedDict()
        self._workers: list[_Worker] = []
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._start_failures = 0
        self._wake_r, self._wake_w = os.pipe()
        self._closed = False
        os.set_blocking(self._wake_w, False)

    @property
    def stopped(self) -> bool:
        """True once stop() was called; a stopped pool takes no more tasks."""
        return self._stopping

    def start(self) -> None:
        """Spawn the children now, in the background (otherwise the first task does it)."""
        with self._lock:
            if not self._stopping:
                self._start_thread()

    def submit(self, payload: Any, *, owner: str | None = None) -> concurrent.futures.Future[Any]:
        """Queue a task for the owner (default: the current work_owner) and return its future."""
        return self._submit(payload, owner).future

    async def run(self, payload: Any, *, owner: str | None = None) -> Any:
        """The task's result; cancelling the caller kills the child running it (and replaces it)."""
        task = self._submit(payload, owner)
        try:
            return await asyncio.wrap_future(task.future)
        except asyncio.CancelledError:
            self._abandon(task)
            raise

    def states(self) -> list[WorkerState]:
        """The children now, for health checks and tests."""
        with self._lock:
            return [
                WorkerState(w.process.pid, w.ready, w.task.owner if w.task else None)
                for w in self._workers
            ]

    def queued(self) -> dict[str, int]:
        """Tasks waiting, per owner."""
        with self._lock:
            return {owner: len(q) for owner, q in self._queues.items()}

    def stop(self) -> None:
        """Kill the children and fail what is queued; blocks for at most a few seconds."""
        with self._lock:
            if self._stopping:
                thread = self._thread
            else:
                self._stopping = True
                thread = self._thread
        self._wake()
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_GRACE_SECONDS * 2)
        self._shutdown()

    def _submit(self, payload: Any, owner: str | None) -> _Task:
        task = _Task(next(self._ids), owner if owner is not None else work_owner.get(), payload)
        with self._lock:
            if self._stopping:
                raise WorkerError(f"The {self.name} pool is stopped.")
            if self.broken is not None:
                raise WorkerStartError(self.broken)
            self._queues.setdefault(task.owner, deque()).append(task)
            self._start_thread()
        self._wake()
        return task

    def _start_thread(self) -> None:
        """Start the pool's thread once (lock held)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._manage, name=f"{self.name}-pool", daemon=True
            )
            self._thread.start()

    def _abandon(self, task: _Task) -> None:
        """The caller gave up: drop the task if queued, kill its child if it runs."""
        with self._lock:
            task.abandoned = True
            queue = self._queues.get(task.owner)
            if queue is not None and task in queue:
                queue.remove(task)
                if not queue:
                    del self._queues[task.owner]
                return
            worker = next((w for w in self._workers if w.task is task), None)
            if worker is not None:
                # Under the lock, so the child cannot have moved on to another owner's task.
                # SIGKILL frees the CPU at once; the pool's thread spawns a replacement.
                worker.process.kill()
                log.info("%s pid %s killed: its task was cancelled", self.name, worker.process.pid)

    def _wake(self) -> None:
        with self._lock, contextlib.suppress(BlockingIOError):
            if not self._closed:
                os.write(self._wake_w, b"x")

    def _manage(self) -> None:
        """The pool's thread: keep N children, hand out tasks, collect answers and deaths."""
        try:
            while not self._stopping:
                self._spawn_missing()
                with self._lock:
                    self._dispatch()
                    waitables: list[Any] = [self._wake_r]
                    for w in self._workers:
                        waitables += [w.conn, w.process.sentinel]
                for ready in wait(waitables):
                    if ready == self._wake_r:
                        with contextlib.suppress(BlockingIOError):
                            os.read(self._wake_r, 4096)
                        continue
                    worker = next(
                        (w for w in self._workers if ready in (w.conn, w.process.sentinel)), None
                    )
                    if worker is not None:
                        self._service(worker, ready)
        except Exception as exc:
            log.exception("the %s pool's thread stopped unexpectedly", self.name)
            # Broken, so the shared registry makes a new pool instead of queueing here forever.
            self._break(f"The {self.name} pool stopped unexpectedly ({type(exc).__name__}).")

    def _spawn_missing(self) -> None:
        while len(self._workers) < self.size and not self._stopping and self.broken is None:
            parent_conn, child_conn = self._context.Pipe()
            process = self._context.Process(
                target=serve,
                args=(child_conn, self.spec, self.env, os.getpid(), self.nice),
                name=f"adanalysis-{self.name}",
                daemon=True,
            )
            process.start()
            child_conn.close()  # only the child holds its end: its death reads as EOF here
            log.info("%s pid %s started", self.name, process.pid)
            with self._lock:
                self._workers.append(_Worker(process, parent_conn))

    def _dispatch(self) -> None:
        """Give each idle, ready child the next task, one owner after another (lock held)."""
        for worker in self._workers:
            if not worker.ready or worker.task is not None:
                continue
            task = self._next_task()
            if task is None:
                return
            if not task.future.set_running_or_notify_cancel():
                continue
            worker.task = task
            try:
                worker.conn.send((task.id, task.payload))
            except (BrokenPipeError, OSError):
                pass  # the child is dying; its sentinel fires next and the task fails there

    def _next_task(self) -> _Task | None:
        """Round-robin over owners: serve the first one, then send it to the back of the line."""
        while self._queues:
            owner, queue = next(iter(self._queues.items()))
            task = queue.popleft()
            if queue:
                self._queues.move_to_end(owner)
            else:
                del self._queues[owner]
            if not task.future.cancelled():
                return task
        return None

    def _service(self, worker: _Worker, ready: object) -> None:
        """Read one answer from a child, or bury it if it died."""
        if ready == worker.conn:
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                self._bury(worker)
                return
            self._answer(worker, message)
        else:
            self._bury(worker)

    def _answer(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            self._start_failures = 0
            worker.ready = True
            return
        if kind == "start_failed":
            self._break(f"The {self.name} could not start: {message[1]}")
            return
        task_id, value = message[1], message[2]
        with self._lock:
            task = worker.task if worker.task is not None and worker.task.id == task_id else None
            worker.task = None
        if task is None:
            return
        if kind == "ok":
            _settle(task.future, result=value)
        else:
            _settle(task.future, error=WorkerTaskError(value))

    def _bury(self, worker: _Worker) -> None:
        """A child is gone: fail its task (unless the caller abandoned it) and replace it."""
        worker.process.join(STOP_GRACE_SECONDS)
        code = worker.process.exitcode
        with contextlib.suppress(OSError):
            worker.conn.close()
        with self._lock:
            self._workers.remove(worker)
            task, worker.task = worker.task, None
        if self._stopping:
            return
        self.replaced += 1
        if task is not None and not task.abandoned:
            log.warning(
                "%s pid %s died (exit %s) running a task", self.name, worker.process.pid, code
            )
            _settle(task.future, error=WorkerCrashed(_exit_reason(code)))
        if not worker.ready:
            self._start_failures += 1
            if self._start_failures >= MAX_START_FAILURES:
                self._break(
                    f"The {self.name} exited while starting, {self._start_failures} times "
                    f"({_exit_reason(code)})."
                )

    def _break(self, reason: str) -> None:
        """Children cannot start: fail everything queued now and refuse new tasks."""
        log.error("%s", reason)
        self.broken = reason
        self._fail_all(WorkerStartError(reason))

    def _fail_all(self, error: Exception) -> None:
        with self._lock:
            tasks = [t for q in self._queues.values() for t in q]
            tasks += [w.task for w in self._workers if w.task is not None]
            self._queues.clear()
        for task in tasks:
            _settle(task.future, error=error)

    def _shutdown(self) -> None:
        """Kill every child and reap it; nothing a child does needs a graceful end."""
        with self._lock:
            workers, self._workers = list(self._workers), []
            running = [w.task for w in workers if w.task is not None]
        for worker in workers:
            worker.process.kill()
        for worker in workers:
            worker.process.join(STOP_GRACE_SECONDS)
            with contextlib.suppress(OSError):
                worker.conn.close()
        stopped = WorkerError(f"The {self.name} pool was stopped.")
        self._fail_all(stopped)
        for task in running:
            _settle(task.future, error=stopped)
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._wake_r)
                os.close(self._wake_w)


def _settle(
    future: concurrent.futures.Future[Any], *, result: Any = None, error: Exception | None = None
) -> None:
    """Complete future unless it is done already (cancelled by its caller)."""
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}"


_pools: dict[Hashable, WorkerPool] = {}
_pools_lock = threading.Lock()


def shared_pool(key: Hashable, make: Callable[[], WorkerPool]) -> WorkerPool:
    """The process's pool for key, made on first use (and again after a stop or a breakage)."""
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None or pool.stopped or pool.broken is not None:
            if not _pools:
                atexit.register(stop_shared_pools)
            pool = _pools[key] = make()
        return pool


def stop_shared_pools() -> None:
    """Stop every shared pool (blocking: call from a thread in async code)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.stop()
