"""Alembic environment: async engine, the models' metadata."""

from __future__ import annotations

import asyncio
import concurrent.futures

from alembic import context
from sqlalchemy.engine import Connection

from adanalysis.ads import models as _ads_models  # noqa: F401  (register tables)
from adanalysis.auth import models as _auth_models  # noqa: F401
from adanalysis.db import Base, open_database
from adanalysis.jobs import models as _jobs_models  # noqa: F401
from adanalysis.notifications import models as _notification_models  # noqa: F401
from adanalysis.ratelimit import models as _ratelimit_models  # noqa: F401

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    async with open_database(config.get_main_option("sqlalchemy.url") or "") as (engine, _):
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_run_async())
    else:  # called from async code (tests, the CLI inside a loop): migrate on a fresh loop
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _run_async()).result()
