"""Job events across processes: one Redis pub/sub channel, relayed to each process's subscribers.

Every process (API server or worker) publishes its job events on the channel; API processes run
a relay that subscribes to it and hands what arrives to their own local subscribers (WebSocket
clients). Cancel nudges travel on a channel of their own, which every process hears, so a worker
learns within milliseconds that the user asked a job it runs to stop; a worker relays only those
(it has no watchers of other processes' jobs, and decoding every event cost it CPU per job).
Pub/sub is fire-and-forget: the job row stays the truth, a watcher that missed events re-reads
it, and the heartbeat still notices a cancel request if a nudge is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis

from adanalysis.jobs.events import JobEvent, LocalJobEvents, Subscription
from adanalysis.redis_options import reconnecting

log = logging.getLogger(__name__)

CANCEL_NUDGE = "cancel_nudge"
# Waits between reconnects of a relay whose Redis went away, in seconds.
RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)

CancelHandler = Callable[[str], None]


class RedisJobEvents:
    """The JobEvents interface over one Redis pub/sub channel shared by every process."""

    def __init__(self, url: str, *, channel: str, relay_events: bool = True) -> None:
        self.url = url
        self.channel = channel
        self.cancel_channel = f"{channel}:cancel"
        # False in workers: other processes' events are not relayed here, and this process's
        # own events reach its local subscribers directly.
        self.relay_events = relay_events
        self.local = LocalJobEvents()
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=10,
            **reconnecting(),
        )
        self._cancel_handlers: list[CancelHandler] = []
        self._relay: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        """Start relaying the channel to this process's subscribers."""
        if self._relay is None:
            self._relay = asyncio.create_task(self._relay_forever(), name="job-events-relay")
            # Events published from here on reach this process too; a bounded wait, since a
            # Redis that is down must not stop the process from starting.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self._subscribed.wait()

    async def stop(self) -> None:
        """Stop the relay and close the connection."""
        if self._relay is not None:
            self._relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay
            self._relay = None
        await self._redis.aclose()

    async def publish(self, event: JobEvent) -> None:
        """Send event to the subscribers of its job and user, in every process."""
        await self._redis.publish(self.channel, event.to_json())
        if not self.relay_events:
            self.local.deliver(event)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        """Receive topic's events, from whichever process they come, while the context is open."""
        async with self.local.subscribe(topic) as subscription:
            yield subscription

    async def nudge_cancel(self, job_id: str) -> None:
        """Tell every process that job_id should stop (its cancel request is already stored)."""
        nudge = json.dumps({"kind": CANCEL_NUDGE, "job_id": job_id})
        await self._redis.publish(self.cancel_channel, nudge)

    def on_cancel(self, handler: CancelHandler) -> None:
        """Call handler(job_id) in this process when any process asks a job to stop."""
        self._cancel_handlers.append(handler)

    async def ping(self) -> bool:
        """Whether Redis answers."""
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    async def _relay_forever(self) -> None:
        attempt = 0
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    channels = [self.cancel_channel]
                    if self.relay_events:
                        channels.append(self.channel)
                    await pubsub.subscribe(*channels)
                    self._subscribed.set()
                    attempt = 0
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._handle(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._subscribed.clear()
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                attempt += 1
                log.warning("job events relay lost Redis (%s); reconnecting in %.2fs", exc, delay)
                await asyncio.sleep(delay)

    def _handle(self, raw: bytes | str) -> None:
        try:
            data: dict[str, Any] = json.loads(raw)
            if data.get("kind") == CANCEL_NUDGE:
                for handler in self._cancel_handlers:
                    handler(str(data["job_id"]))
                return
            self.local.deliver(JobEvent.from_json(raw))
        except Exception:
            log.exception("could not relay a job event")
