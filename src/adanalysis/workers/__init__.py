"""CPU-bound work in spawned child processes, away from the API's threads and event loop."""

from adanalysis.workers.pool import (
    WorkerCrashed,
    WorkerError,
    WorkerPool,
    WorkerSpec,
    WorkerStartError,
    WorkerTaskError,
    available_cores,
    shared_pool,
    stop_shared_pools,
    work_owner,
)

__all__ = [
    "WorkerCrashed",
    "WorkerError",
    "WorkerPool",
    "WorkerSpec",
    "WorkerStartError",
    "WorkerTaskError",
    "available_cores",
    "shared_pool",
    "stop_shared_pools",
    "work_owner",
]
