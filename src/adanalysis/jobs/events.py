"""Job events: every state change of a job, published to whoever watches that job or user."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from adanalysis.jobs.models import FINAL_STATUSES

# A slow subscriber drops its oldest updates rather than growing memory; the newest always stays,
# so the final event of a job is never the one dropped.
QUEUE_SIZE = 16
_FINAL = {s.value for s in FINAL_STATUSES}


class JobEventKind(StrEnum):
    """What happened to the job."""

    CREATED = "created"  # a pending job was inserted
    CLAIMED = "claimed"  # a runner took it: pending -> running
    PROGRESS = "progress"  # progress, message or results changed
    CANCEL_REQUESTED = "cancel_requested"  # the user asked a running job to stop
    REQUEUED = "requeued"  # its runner stopped gracefully: running -> pending
    RECOVERED = "recovered"  # its runner died; reaped back to pending
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DELETED = "deleted"  # removed by cleanup; document is empty


@dataclass(frozen=True)
class JobEvent:
    """One change of one job, carrying the whole job-status document after it."""

    kind: JobEventKind
    job_id: str
    user_id: str
    document: dict[str, Any]  # the job-status JSON, exactly as GET job-status returns it

    @property
    def is_final(self) -> bool:
        """Whether the job ended with this event (completed, failed or cancelled)."""
        return self.document.get("status") in _FINAL

    def to_json(self) -> str:
        """The event as JSON, for channels between processes."""
        # Not dataclasses.asdict: it deep-copies the document first, which cost more (175 us an
        # event) than the rest of publishing it.
        fields = {"kind": self.kind, "job_id": self.job_id, "user_id": self.user_id}
        return json.dumps({**fields, "document": self.document})

    @classmethod
    def from_json(cls, raw: str | bytes) -> JobEvent:
        """The event sent by to_json."""
        data = json.loads(raw)
        return cls(JobEventKind(data["kind"]), data["job_id"], data["user_id"], data["document"])


def job_topic(job_id: str) -> str:
    """The topic of one job's events."""
    return f"job:{job_id}"


def user_topic(user_id: str) -> str:
    """The topic of every event of one user's jobs."""
    return f"user:{user_id}"


class Subscription:
    """The events of one topic, from subscription on, newest kept when the reader falls behind."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[JobEvent] = asyncio.Queue(QUEUE_SIZE)

    def put(self, event: JobEvent) -> None:
        """Deliver an event, dropping the oldest when full."""
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(event)

    async def get(self) -> JobEvent:
        """The next event."""
        return await self._queue.get()

    def drain(self) -> list[JobEvent]:
        """The events delivered and not read yet, without waiting."""
        events = []
        while not self._queue.empty():
            events.append(self._queue.get_nowait())
        return events


class JobEvents(Protocol):
    """Where job events go: in-process fan-out embedded, a broker's pub/sub at scale."""

    async def publish(self, event: JobEvent) -> None:
        """Send event to the subscribers of its job and of its user."""

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[Subscription]:
        """Receive the events of topic (job_topic or user_topic) while the context is open."""
        ...


class LocalJobEvents:
    """Fan-out inside one process."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    async def publish(self, event: JobEvent) -> None:
        """Send event to everyone watching its job or its user."""
        self.deliver(event)

    def deliver(self, event: JobEvent) -> None:
        """Hand event to this process's subscribers (also used by relays from other processes)."""
        for topic in (job_topic(event.job_id), user_topic(event.user_id)):
            for subscription in list(self._subscribers.get(topic, ())):
                subscription.put(event)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        """A subscription to topic for as long as the context is open."""
        subscription = Subscription()
        self._subscribers[topic].add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers[topic].discard(subscription)
            if not self._subscribers[topic]:
                del self._subscribers[topic]
