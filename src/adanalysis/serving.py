"""Serving an ASGI app on a free local port in a background thread (CLI sandbox, test fakes)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

import uvicorn


@contextlib.contextmanager
def serve_app_in_thread(
    app: Any, host: str = "127.0.0.1", *, lifespan: Literal["auto", "on", "off"] = "off"
) -> Iterator[str]:
    """Serve an ASGI app on a free local port in a background thread; yield its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=0, log_level="warning", lifespan=lifespan)
    )
    thread = threading.Thread(target=server.run, name="serve-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("The app server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
