"""Polling cost: job-status and the history under 50 connections, against a bare FastAPI app.

For each database (SQLite, then PostgreSQL on a private database), a store of 10,000 users' jobs,
three jobs of the user writing progress every second, and in one run, alternating:
`adanalysis serve` answering GET job-status, and a bare FastAPI app serving the same document from
memory under the same uvicorn settings (access log and its redaction included). Prints req/s,
p50/p99, server CPU per request and the ratio. Then the live push (WebSocket) latency from the
progress write to the client while the three jobs run, and on PostgreSQL the history at
1,000,000 rows (page 1 and page 50) against job-status, with EXPLAIN (ANALYZE, BUFFERS) of the
history query before (OR keyset, every column) and after (row comparison, no results).

    .venv/bin/python bench/polling.py [--duration 10] [--rounds 2] [--db sqlite,postgresql]
        [--src OTHER_CHECKOUT/src]   # serve another checkout's code (a before/after run)

The load generator is Python (asyncio on raw sockets, keep-alive, like wrk's closed loop), so both
apps are measured with the same client; the ratio is the figure to compare across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PG_ADMIN = os.environ.get(
    "ADANALYSIS_BENCH_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SECRET = "bench-secret-key-0123456789abcdef0123456789"  # noqa: S105 - a throwaway bench key
API = "/api/v1/ad_analysis"
TICKER = "bench_ticker"
USERS = 10_000
JOBS_PER_USER = 5


# --- the job the three running jobs run (imported by the server through ADANALYSIS_JOB_MODULES)


async def _tick(ctx: Any) -> Any:
    """Write progress every second until cancelled."""
    n = 0
    while True:
        n += 1
        await ctx.progress(1 + n % 98, f"Transcribing videos ({n}/100)...", force=True)
        await asyncio.sleep(1.0)


def register_jobs(registry: Any) -> None:
    """The bench's ticker job type."""
    from adanalysis.jobs.registry import JobType

    registry.register(JobType(TICKER, _tick))


# --- the bare app


def serve_bare(port: int, document_path: str) -> None:
    """A FastAPI app answering job-status with a fixed document, under serve's uvicorn settings."""
    import uvicorn
    from fastapi import FastAPI, Response

    from adanalysis.logging_setup import configure_logging

    body = Path(document_path).read_bytes()
    app = FastAPI()

    @app.get(API + "/job-status/{job_id}")
    async def status(job_id: str) -> Response:
        return Response(body, media_type="application/json")

    configure_logging("INFO")
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        timeout_graceful_shutdown=5,
        proxy_headers=False,
    )


# --- the load generator


@dataclass
class Load:
    """What one measurement saw."""

    requests: int
    errors: int
    seconds: float
    latencies: list[float]  # seconds
    cpu_seconds: float  # the server process's user + system CPU during the run

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        """A latency percentile, in ms."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _connection(
    port: int, paths: list[str], headers: str, until: float, out: Load, stop: list[bool]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    requests = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode() for p in paths]
    i = 0
    try:
        while time.perf_counter() < until and not stop[0]:
            start = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            out.latencies.append(time.perf_counter() - start)
            out.requests += 1
            if not head.startswith(b"HTTP/1.1 200"):
                out.errors += 1
    finally:
        writer.close()


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    port: int, pid: int, paths: list[str], *, token: str, seconds: float, connections: int
) -> Load:
    """connections closed loops for seconds, each sending the next of paths."""
    out = Load(0, 0, seconds, [], 0.0)
    headers = f"Authorization: Bearer {token}\r\n"
    stop = [False]
    cpu0, t0 = _cpu(pid), time.perf_counter()
    until = t0 + seconds
    await asyncio.gather(
        *(_connection(port, paths, headers, until, out, stop) for _ in range(connections))
    )
    out.seconds = time.perf_counter() - t0
    out.cpu_seconds = _cpu(pid) - cpu0
    return out


# --- databases


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def private_database(kind: str, work: Path) -> Iterator[str]:
    """A new, empty database of that kind, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{work / 'bench.db'}"
        return
    name = f"adanalysis_bench9_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _pg_admin(statement: str) -> None:
    from adanalysis.db import execute_autocommit

    await execute_autocommit(PG_ADMIN, statement)


def _results(n: int) -> list[dict[str, Any]]:
    return [
        {"status": "analyzed", "video_id": f"{100000 + i}", "title": "Summer sale video ad " * 2}
        for i in range(n)
    ]


async def fill(url: str) -> dict[str, Any]:
    """10,000 users with 5 ended jobs each; the polling user's 2 KB job and three ticker jobs."""
    from sqlalchemy import insert

    from adanalysis.auth.models import User
    from adanalysis.db import create_engine
    from adanalysis.ids import new_object_id
    from adanalysis.jobs.models import BackgroundJob

    engine = create_engine(url)
    now = datetime.now(UTC)
    users = [new_object_id() for _ in range(USERS)]
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(User),
                [
                    {
                        "id": u,
                        "email": f"u{i}@bench.example",
                        "password_hash": "x",
                        "created_at": now,
                    }
                    for i, u in enumerate(users)
                ],
            )
            rows = [
                {
                    "id": new_object_id(),
                    "user_id": u,
                    "job_type": "ad_analysis",
                    "status": "completed",
                    "progress": 100,
                    "message": "Analysis completed successfully! Processed 4 ads.",
                    "parameters": {"account_id": "act_1234567890", "access_token": "fb_1234..."},
                    "results": _results(4),
                    "result_summary": {"analyzed": 4},
                    "result_count": 4,
                    "created_at": now - timedelta(minutes=j),
                    "updated_at": now,
                }
                for u in users
                for j in range(JOBS_PER_USER)
            ]
            for start in range(0, len(rows), 5000):
                await conn.execute(insert(BackgroundJob), rows[start : start + 5000])
            polled = rows[0]["id"]
            await conn.execute(
                BackgroundJob.__table__.update()
                .where(BackgroundJob.id == polled)
                .values(results=_results(12))
            )
            tickers = []
            for i in range(3):
                ticker = new_object_id()
                tickers.append(ticker)
                await conn.execute(
                    insert(BackgroundJob).values(
                        id=ticker,
                        user_id=users[1 + i],
                        job_type=TICKER,
                        status="pending",
                        progress=0,
                        message="Queued",
                        parameters={},
                        created_at=now,
                        updated_at=now,
                    )
                )
    finally:
        await engine.dispose()
    if url.startswith("sqlite"):
        import sqlite3

        # Fold the bulk load's write-ahead log into the file now, not under the measurement.
        with contextlib.closing(sqlite3.connect(url.split("///", 1)[1])) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"user": users[0], "job": polled, "tickers": tickers, "ticker_users": users[1:4]}


@contextmanager
def server(argv: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, ready when its port answers."""
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server {argv} did not start") from None
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(30)


def _env(url: str, work: Path, src: str | None) -> dict[str, str]:
    paths = [str(HERE), src or str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        "ADANALYSIS_DATABASE_URL": url,
        "ADANALYSIS_SECRET_KEY": SECRET,
        "ADANALYSIS_DATA_DIR": str(work / "data"),
        "ADANALYSIS_JOB_MODULES": json.dumps(["polling"]),
        "ADANALYSIS_MAX_CONCURRENT_JOBS": "4",
        "ADANALYSIS_MAX_RUNNING_JOBS_PER_USER": "3",
    }


def _serve_argv(port: int) -> list[str]:
    code = (
        "import sys; from adanalysis.cli import app; "
        f"sys.argv = ['adanalysis', 'serve', '--no-migrate', '--port', '{port}']; app()"
    )
    return [sys.executable, "-c", code]


def _profile(
    pid: int, out: Path, args: argparse.Namespace, port: int, path: str, token: str
) -> None:
    """py-spy's top functions of the server under the same load (py-spy in the venv, not a dep)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "-p",
            str(pid),
            "-f",
            "raw",
            "-o",
            str(out),
            "-d",
            str(int(args.duration)),
            "-r",
            "200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    asyncio.run(
        load(port, pid, [path], token=token, seconds=args.duration, connections=args.connections)
    )
    spy.wait(60)
    print(f"  profile written to {out}")


def _row(name: str, r: Load) -> str:
    cpu = 1000 * r.cpu_seconds / max(1, r.requests)
    return (
        f"  {name:<28} {r.rps:8.0f} req/s  p50 {r.pct(0.50):7.1f} ms  p95 {r.pct(0.95):7.1f} ms"
        f"  p99 {r.pct(0.99):7.1f} ms  cpu/req {cpu:5.2f} ms  errors {r.errors}"
    )


def _merge(runs: list[Load]) -> Load:
    return Load(
        sum(r.requests for r in runs),
        sum(r.errors for r in runs),
        sum(r.seconds for r in runs),
        [x for r in runs for x in r.latencies],
        sum(r.cpu_seconds for r in runs),
    )


async def ws_push(port: int, job_ids: list[str], tokens: list[str], seconds: float) -> list[float]:
    """Latencies (ms) from each progress write (the document's updated_at) to this client."""
    import websockets

    latencies: list[float] = []

    async def watch(job_id: str, token: str) -> None:
        url = f"ws://127.0.0.1:{port}{API}/ws/jobs/{job_id}?token={token}"
        async with websockets.connect(url) as ws:
            await ws.recv()  # the current document
            while True:
                document = json.loads(await ws.recv())
                written = datetime.fromisoformat(document["updated_at"].replace("Z", "+00:00"))
                latencies.append(1000 * (time.time() - written.timestamp()))

    tasks = [asyncio.create_task(watch(j, t)) for j, t in zip(job_ids, tokens, strict=True)]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return latencies


def polling(kind: str, args: argparse.Namespace) -> None:
    """The job-status table of one database, and the live push latency."""
    from adanalysis.auth.security import create_access_token
    from adanalysis.cli import run_migrations

    with tempfile.TemporaryDirectory() as tmp, private_database(kind, Path(tmp)) as url:
        work = Path(tmp)
        run_migrations(url)
        t0 = time.perf_counter()
        ids = asyncio.run(fill(url))
        print(
            f"\n== {kind}: {USERS * JOBS_PER_USER:,} jobs of {USERS:,} users stored in "
            f"{time.perf_counter() - t0:.0f} s; 3 jobs write progress every second"
        )
        token = create_access_token(ids["user"], secret=SECRET, expires_minutes=120)
        path = f"{API}/job-status/{ids['job']}"
        env = _env(url, work, args.src)
        port, bare_port = _free_port(), _free_port()
        with server(_serve_argv(port), env, port) as app_process:
            import httpx

            r = httpx.get(
                f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
            )
            r.raise_for_status()
            document = work / "document.json"
            document.write_bytes(r.content)
            bare_argv = [
                sys.executable,
                str(Path(__file__)),
                "--serve-bare",
                str(bare_port),
                str(document),
            ]
            with server(bare_argv, env, bare_port) as bare_process:
                ours, bare = [], []
                if args.profile:
                    _profile(
                        app_process.pid, Path(args.profile) / f"{kind}.txt", args, port, path, token
                    )
                for _ in range(args.rounds):
                    for runs, p, proc in (
                        (ours, port, app_process),
                        (bare, bare_port, bare_process),
                    ):
                        runs.append(
                            asyncio.run(
                                load(
                                    p,
                                    proc.pid,
                                    [path],
                                    token=token,
                                    seconds=args.duration,
                                    connections=args.connections,
                                )
                            )
                        )
            a, b = _merge(ours), _merge(bare)
            print(
                f"  document {len(r.content)} bytes; {args.connections} connections, "
                f"{args.rounds} x {args.duration:.0f} s each, alternating"
            )
            print(_row(f"job-status, {kind}", a))
            print(_row("bare FastAPI (same document)", b))
            print(
                f"  ratio req/s {a.rps / b.rps:.2f}x bare;  p99 {a.pct(0.99):.1f} ms "
                f"(goal >= 0.5x and < 50 ms)"
            )
            tokens = [
                create_access_token(u, secret=SECRET, expires_minutes=60)
                for u in ids["ticker_users"]
            ]
            pushes = asyncio.run(ws_push(port, ids["tickers"], tokens, args.duration))
            if pushes:
                q = statistics.quantiles(pushes, n=20)
                print(
                    f"  WebSocket push, 3 running jobs: {len(pushes)} updates, "
                    f"p50 {statistics.median(pushes):.1f} ms, p95 {q[18]:.1f} ms (goal <= 100)"
                )
            else:
                print("  WebSocket push: no update received")


async def fill_history(url: str, rows: int, owned: int) -> dict[str, Any]:
    """rows jobs in one INSERT ... generate_series; `owned` of them belong to the bench user."""
    from sqlalchemy import text

    from adanalysis.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO users (id, email, password_hash, is_active, is_admin, is_premium,"
                    " created_at) SELECT lpad(to_hex(g), 24, '0'), 'h' || g || '@bench.example',"
                    " 'x', true, false, false, now() FROM generate_series(1, 10000) AS g"
                )
            )
            # Ten results each (about 1 KB): the JSON the old history decoded for every row.
            await conn.execute(
                text(
                    "INSERT INTO background_jobs (id, user_id, job_type, status, progress, message,"
                    " parameters, results, result_summary, result_count, created_at, updated_at,"
                    " attempts, max_attempts, priority)"
                    " SELECT 'b' || lpad(to_hex(g), 23, '0'),"
                    " CASE WHEN g <= :owned THEN lpad(to_hex(1), 24, '0')"
                    "      ELSE lpad(to_hex(2 + g % 9999), 24, '0') END,"
                    " 'ad_analysis', 'completed', 100, 'Analysis completed successfully!',"
                    ' \'{"account_id": "act_1234567890"}\','
                    " (SELECT json_agg(json_build_object('status', 'analyzed',"
                    "   'video_id', g * 10 + i, 'title', 'Summer sale video ad number ' || i))"
                    "   FROM generate_series(1, 10) i),"
                    " '{\"analyzed\": 10}', 10,"
                    " now() - make_interval(secs => (g / 3)), now(), 1, 3, 0"
                    " FROM generate_series(1, :rows) AS g"
                ),
                {"rows": rows, "owned": owned},
            )
            await conn.execute(text("ANALYZE background_jobs"))
            await conn.execute(text("ANALYZE users"))
    finally:
        await engine.dispose()
    return {"user": "0" * 23 + "1"}


def history(args: argparse.Namespace) -> None:
    """History p95 at 1,000,000 rows on PostgreSQL (page 1, page 50) against job-status."""
    import httpx

    from adanalysis.auth.security import create_access_token
    from adanalysis.cli import run_migrations

    with tempfile.TemporaryDirectory() as tmp, private_database("postgresql", Path(tmp)) as url:
        work = Path(tmp)
        run_migrations(url)
        t0 = time.perf_counter()
        ids = asyncio.run(fill_history(url, args.history_rows, args.history_owned))
        print(
            f"\n== postgresql history: {args.history_rows:,} jobs ({args.history_owned:,} of "
            f"the user's), stored in {time.perf_counter() - t0:.0f} s"
        )
        token = create_access_token(ids["user"], secret=SECRET, expires_minutes=120)
        port = _free_port()
        with server(_serve_argv(port), _env(url, work, args.src), port) as process:
            auth = {"Authorization": f"Bearer {token}"}
            base = f"http://127.0.0.1:{port}{API}"
            first = httpx.get(f"{base}/jobs/?limit=20", headers=auth)
            first.raise_for_status()
            status_path = f"{API}/job-status/{first.json()[0]['_id']}"
            cursor = first.headers["x-next-before"]
            for _ in range(48):
                page = httpx.get(f"{base}/jobs/?limit=20&before={cursor}", headers=auth)
                cursor = page.headers["x-next-before"]
            paths = {
                "job-status": status_path,
                "jobs/?limit=20 page 1": f"{API}/jobs/?limit=20",
                "jobs/?limit=20 page 50": f"{API}/jobs/?limit=20&before={cursor}",
            }
            runs: dict[str, list[Load]] = {name: [] for name in paths}
            for _ in range(args.rounds):
                for name, path in paths.items():
                    runs[name].append(
                        asyncio.run(
                            load(
                                port,
                                process.pid,
                                [path],
                                token=token,
                                seconds=args.duration,
                                connections=args.connections,
                            )
                        )
                    )
            merged = {name: _merge(r) for name, r in runs.items()}
            base_p95 = merged["job-status"].pct(0.95)
            for name, r in merged.items():
                print(_row(name, r) + f"  p95/job-status {r.pct(0.95) / base_p95:.2f}")
            print("  goal: jobs/ p95 <= 2x job-status p95, page 1 and page 50")
            if args.profile:
                out = Path(args.profile) / "history.txt"
                _profile(process.pid, out, args, port, paths["jobs/?limit=20 page 50"], token)
        asyncio.run(explain(url, ids["user"], cursor))


async def explain(url: str, user_id: str, cursor: str) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the history query, page 1 and 50, before and after."""
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql

    from adanalysis.db import create_engine
    from adanalysis.jobs.models import BackgroundJob as J
    from adanalysis.jobs.reads import PREPARED, history_query

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            anchor = (await conn.execute(select(J.created_at, J.id).where(J.id == cursor))).one()
            old_page_50 = (
                select(J)
                .where(J.user_id == user_id)
                .where(
                    (J.created_at < anchor[0]) | ((J.created_at == anchor[0]) & (J.id < anchor[1]))
                )
                .order_by(J.created_at.desc(), J.id.desc())
                .limit(21)
            )
            queries = {
                "before, page 1 (every column, results included)": select(J)
                .where(J.user_id == user_id)
                .order_by(J.created_at.desc(), J.id.desc())
                .limit(21),
                "before, page 50 (OR keyset)": old_page_50,
                "after, page 1": history_query(user_id=user_id, limit=21),
                "after, page 50 (row comparison)": history_query(
                    user_id=user_id, limit=21, after=(anchor[0], anchor[1])
                ),
                # What the polled pages run: the user check and the cursor in the same statement.
                "after, page 50, one statement (reads.PREPARED['checked after'])": PREPARED[
                    "checked after"
                ].params(user_id=user_id, job_id=cursor, limit=21),
            }
            for name, query in queries.items():
                sql = str(
                    query.compile(
                        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
                    )
                )
                plan = (
                    (await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql))
                    .scalars()
                    .all()
                )
                print(f"\n  EXPLAIN (ANALYZE, BUFFERS), {name}:")
                for line in plan:
                    print("    " + line)
    finally:
        await engine.dispose()


def main() -> None:
    """Run the polling and history benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of app and bare")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--history-rows", type=int, default=1_000_000)
    parser.add_argument("--history-owned", type=int, default=100_000)
    parser.add_argument("--no-history", action="store_true")
    parser.add_argument("--profile", help="write a py-spy profile of the server to this folder")
    parser.add_argument("--src", help="serve the code of another checkout's src/ (before/after)")
    parser.add_argument(
        "--serve-bare", nargs=2, metavar=("PORT", "DOCUMENT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(int(args.serve_bare[0]), args.serve_bare[1])
        return
    os.environ.setdefault("ADANALYSIS_SECRET_KEY", secrets.token_hex(16))
    for kind in args.db.split(","):
        polling(kind, args)
    if not args.no_history and "postgresql" in args.db:
        history(args)


if __name__ == "__main__":
    main()
