"""In-process fan-out of job updates to live clients (WebSocket)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

# A slow client drops intermediate updates rather than growing memory; the last one wins.
QUEUE_SIZE = 16


class JobEvents:
    """Publish job snapshots; subscribers get the ones for the job they watch."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    def publish(self, job_id: str, snapshot: dict[str, Any]) -> None:
        """Send snapshot to everyone watching job_id."""
        for queue in list(self._subscribers.get(job_id, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(snapshot)

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """A queue of job_id's snapshots for as long as the context is open."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers[job_id].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[job_id].discard(queue)
            if not self._subscribers[job_id]:
                del self._subscribers[job_id]
