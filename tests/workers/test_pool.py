"""The worker pool: spawned children, one fair queue, cancel kills, crashes are contained."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adanalysis.workers import (
    WorkerCrashed,
    WorkerError,
    WorkerPool,
    WorkerSpec,
    WorkerStartError,
    WorkerTaskError,
    shared_pool,
    stop_shared_pools,
    work_owner,
)
from tests.processes import alive, cpu_ticks, eventually

ROOT = Path(__file__).resolve().parents[2]
PROBE = WorkerSpec("tests.workers.handlers:probe")


@pytest.fixture
def make_pool() -> Iterator[Callable[..., WorkerPool]]:
    pools: list[WorkerPool] = []

    def make(size: int = 1, spec: WorkerSpec = PROBE, **kwargs: Any) -> WorkerPool:
        pool = WorkerPool(spec, size=size, name="test worker", **kwargs)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.stop()


def busy_pid(pool: WorkerPool, owner: str) -> int | None:
    return next((s.pid for s in pool.states() if s.owner == owner), None)


async def test_tasks_run_in_spawned_children_with_the_pool_env(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(size=2, env={"OPENBLAS_NUM_THREADS": "1", "POOL_TEST": "yes"}, nice=5)
    first, second = await asyncio.gather(
        pool.run({"op": "whoami"}, owner="a"), pool.run({"op": "whoami"}, owner="b")
    )
    for child in (first, second):
        assert child["pid"] != os.getpid()
        assert child["ppid"] == os.getpid()
        # A fresh interpreter (spawn), not a fork of this process with its threads and locks.
        assert "spawn_main" in child["cmdline"]
        assert child["env"] == {"OPENBLAS_NUM_THREADS": "1", "POOL_TEST": "yes"}
        assert child["numpy_loaded"] is False
        assert child["nice"] == os.nice(0) + 5  # behind this process for the CPU
    pids = {s.pid for s in pool.states()}
    assert len(pids) == 2 and {first["pid"], second["pid"]} <= pids


async def test_owners_are_served_in_turn(make_pool: Callable[..., WorkerPool]) -> None:
    """One child: a job with four tasks does not make the others wait for all of them."""
    pool = make_pool(size=1)
    # All queued before the child is ready (spawning takes far longer than these calls).
    futures = [pool.submit({"op": "order", "tag": f"a{i}"}, owner="job-a") for i in range(1, 5)]
    futures += [pool.submit({"op": "order", "tag": f"b{i}"}, owner="job-b") for i in (1, 2)]
    futures += [pool.submit({"op": "order", "tag": "c1"}, owner="job-c")]
    served = sorted((f.result(timeout=60) for f in futures), key=lambda r: r[1])
    assert [tag for tag, _ in served] == ["a1", "b1", "c1", "a2", "b2", "a3", "a4"]


async def test_the_owner_defaults_to_the_callers_work_owner(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(size=1)
    work_owner.set("job-42")
    task = asyncio.create_task(pool.run({"op": "sleep", "seconds": 30}))
    await asyncio.to_thread(eventually, lambda: busy_pid(pool, "job-42") is not None, "busy")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancel_kills_the_child_at_once_and_a_replacement_takes_the_next_task(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(size=1)
    task = asyncio.create_task(pool.run({"op": "spin"}, owner="job-a"))
    await asyncio.to_thread(eventually, lambda: busy_pid(pool, "job-a") is not None, "busy")
    pid = busy_pid(pool, "job-a")
    assert pid is not None
    before = cpu_ticks(pid)
    await asyncio.to_thread(eventually, lambda: cpu_ticks(pid) > before, "the child burns CPU")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # SIGKILLed from cancel() itself: gone without waiting for the task to notice anything.
    await asyncio.to_thread(eventually, lambda: not alive(pid), "the child is killed")
    assert (await pool.run({"op": "whoami"}, owner="job-b"))["pid"] != pid
    assert pool.replaced == 1


async def test_cancelling_a_queued_task_leaves_the_running_one_alone(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(size=1)
    running = asyncio.create_task(pool.run({"op": "sleep", "seconds": 0.5}, owner="a"))
    await asyncio.to_thread(eventually, lambda: busy_pid(pool, "a") is not None, "busy")
    queued = asyncio.create_task(pool.run({"op": "whoami"}, owner="b"))
    await asyncio.to_thread(eventually, lambda: pool.queued() == {"b": 1}, "queued")
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert pool.queued() == {}
    pid = await running
    assert alive(pid) and pool.replaced == 0


async def test_a_crash_fails_only_its_task_and_the_child_is_replaced(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(size=2)
    crash, other = await asyncio.gather(
        pool.run({"op": "crash"}, owner="a"),
        pool.run({"op": "sleep", "seconds": 0.2}, owner="b"),
        return_exceptions=True,
    )
    assert isinstance(crash, WorkerCrashed)
    assert str(crash) == "exit code 3"
    assert isinstance(other, int)
    await asyncio.to_thread(eventually, lambda: pool.replaced == 1 and len(pool.states()) == 2, "")
    assert (await pool.run({"op": "whoami"}))["label"] == "probe"


async def test_a_handler_error_comes_back_and_the_child_carries_on(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(size=1)
    pid = (await pool.run({"op": "whoami"}))["pid"]
    with pytest.raises(WorkerTaskError, match="ValueError: not a video"):
        await pool.run({"op": "raise", "message": "not a video"})
    assert (await pool.run({"op": "whoami"}))["pid"] == pid
    assert pool.replaced == 0


async def test_children_that_cannot_start_fail_the_tasks_with_the_reason(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(size=2, spec=WorkerSpec("tests.workers.handlers:broken"))
    with pytest.raises(WorkerStartError, match="RuntimeError: no model at /nowhere"):
        await pool.run({"op": "whoami"})
    assert pool.broken is not None
    with pytest.raises(WorkerStartError):
        pool.submit({"op": "whoami"})


def test_a_shared_pool_is_made_again_after_a_stop_or_a_breakage() -> None:
    try:
        first = shared_pool("probe", lambda: WorkerPool(PROBE, size=1))
        assert shared_pool("probe", lambda: WorkerPool(PROBE, size=1)) is first
        first.stop()
        second = shared_pool("probe", lambda: WorkerPool(PROBE, size=1))
        assert second is not first
        assert second.submit({"op": "whoami"}).result(timeout=60)["label"] == "probe"
    finally:
        stop_shared_pools()


async def test_stop_kills_the_children_and_fails_what_waits(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(size=1)
    running = pool.submit({"op": "spin"}, owner="a")
    waiting = pool.submit({"op": "whoami"}, owner="b")
    await asyncio.to_thread(eventually, lambda: busy_pid(pool, "a") is not None, "busy")
    pid = busy_pid(pool, "a")
    assert pid is not None
    await asyncio.to_thread(pool.stop)
    assert not alive(pid)
    for future in (running, waiting):
        with pytest.raises(WorkerError, match="stopped"):
            future.result(timeout=5)
    with pytest.raises(WorkerError, match="stopped"):
        pool.submit({"op": "whoami"})


PARENT = textwrap.dedent(
    """
    import sys, time
    from adanalysis.workers import WorkerPool, WorkerSpec

    if __name__ == "__main__":
        pool = WorkerPool(WorkerSpec("tests.workers.handlers:probe"), size=2)
        busy = pool.submit({"op": "spin"}, owner="a")
        pool.start()
        idle = pool.submit({"op": "whoami"}, owner="b").result(timeout=60)
        while not all(s.ready for s in pool.states()) or len(pool.states()) < 2:
            time.sleep(0.05)
        print(" ".join(str(s.pid) for s in pool.states()), flush=True)
        time.sleep(600)
    """
)


def test_children_die_when_their_parent_is_killed(tmp_path: Path) -> None:
    """A SIGKILLed server leaves no speech process behind, busy or idle."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, str(script)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        eventually(lambda: not any(alive(p) for p in pids), "the children exit with the parent")
    finally:
        parent.kill()
        parent.wait(timeout=10)
