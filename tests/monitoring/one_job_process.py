"""Run one test job in this process, as a worker would (python -m tests.monitoring.one_job_process).

Arguments: database URL, data folder. Used with PROMETHEUS_MULTIPROC_DIR set, so this process's
metrics land in that folder for another process's /metrics to sum.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from adanalysis.db import open_database
from adanalysis.jobs.runtime import run_job
from adanalysis.monitoring.prometheus import install_job_metrics
from tests.conftest import make_settings
from tests.jobs import jobtypes
from tests.jobs.support import new_user_id, service_for, services_for


async def main(database_url: str, data_dir: Path) -> None:
    settings = make_settings(database_url, data_dir)
    async with open_database(database_url) as (_engine, factory):
        services = services_for(factory, settings)
        install_job_metrics(services.lifecycle, factory)
        user_id = await new_user_id(factory)
        async with factory() as session:
            job = await service_for(services).start_job(
                session, user_id=user_id, job_type=jobtypes.STEPS, parameters={"steps": 2}
            )
        assert await run_job(job.id, services) == "completed"
        await services.lifecycle.drain_hooks()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
