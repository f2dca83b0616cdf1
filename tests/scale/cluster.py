"""A scale-out deployment in subprocesses: `adanalysis serve`, `worker` and `beat` on a private
PostgreSQL database and a private Redis server, with the Graph sandbox and the fake OpenAI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "correct-horse-9"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A redis-server of our own (no persistence), so a test may stop and restart it."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not self.up():
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # abrupt: nothing saved, queued messages are gone
            self.proc.wait()
            self.proc = None


@dataclass
class Process:
    """One adanalysis process and its log."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    url: str | None = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Cluster:
    """Every process of one scale-out deployment; stop() ends them all."""

    workdir: Path
    env: dict[str, str]
    processes: list[Process] = field(default_factory=list)

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Process:
        data = self.workdir / name
        data.mkdir(parents=True, exist_ok=True)
        log = data / "process.log"
        full_env = {**os.environ, **self.env, **(env or {}), "ADANALYSIS_DATA_DIR": str(data)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "adanalysis", *args],
            env=full_env,
            cwd=data,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        process = Process(name, proc, log)
        self.processes.append(process)
        return process

    def api(self, name: str, env: dict[str, str] | None = None) -> Process:
        port = free_port()
        process = self._spawn(name, ["serve", "--port", str(port), "--no-migrate"], env)
        process.url = f"http://127.0.0.1:{port}"
        return process

    def worker(self, name: str, env: dict[str, str] | None = None, concurrency: int = 2) -> Process:
        return self._spawn(name, ["worker", "--concurrency", str(concurrency)], env)

    def beat(self, name: str = "beat") -> Process:
        return self._spawn(name, ["beat"])

    def wait_ready(self, process: Process, timeout: float = 90) -> None:
        """Wait for an API's /health, or for a worker's 'ready' line."""
        deadline = time.monotonic() + timeout
        while True:
            if process.proc.poll() is not None:
                raise AssertionError(f"{process.name} exited:\n{process.log_text()}")
            if process.url is not None:
                try:
                    if httpx.get(f"{process.url}/health", timeout=1).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            elif " ready." in process.log.read_text(errors="replace"):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{process.name} not ready:\n{process.log_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


@dataclass
class User:
    """A registered, signed-in user of the cluster."""

    email: str
    user_id: str
    headers: dict[str, str]


def sign_up(client: httpx.Client, base: str, *, account_id: str) -> User:
    """Register, sign in and save sandbox credentials for account_id."""
    email = f"scale-{uuid.uuid4().hex[:10]}@example.com"
    r = client.post(f"{base}/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = client.post(f"{base}/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    user_id = client.get(f"{base}/api/v1/auth/me", headers=headers).json()["id"]
    r = client.put(
        f"{base}/api/v1/ad_analysis/credentials",
        headers=headers,
        json={"access_token": "sandbox", "account_id": account_id},
    )
    assert r.status_code == 200, r.text
    return User(email, user_id, headers)


def start(client: httpx.Client, base: str, user: User) -> str:
    """Start an analysis; its job id."""
    r = client.post(f"{base}/api/v1/ad_analysis/start-analysis/", headers=user.headers)
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


def status(client: httpx.Client, base: str, user: User, job_id: str) -> dict[str, Any]:
    r = client.get(f"{base}/api/v1/ad_analysis/job-status/{job_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def wait_status(
    client: httpx.Client,
    base: str,
    user: User,
    job_id: str,
    statuses: set[str],
    timeout: float = 60,
) -> dict[str, Any]:
    """Poll until the job reaches one of statuses (a bound for liveness, not a timing)."""
    deadline = time.monotonic() + timeout
    while True:
        job = status(client, base, user, job_id)
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}: {job}"
        time.sleep(0.05)
