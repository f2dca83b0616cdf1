"""Settings for the whole service, read once from the environment (prefix ADANALYSIS_)."""

from __future__ import annotations

import ipaddress
import secrets
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every tunable of adanalysis; one instance per process via get_settings()."""

    model_config = SettingsConfigDict(env_prefix="ADANALYSIS_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    secret_key: SecretStr | None = None
    executor: Literal["local", "celery"] = "local"
    log_level: str = "INFO"
    # production: JSON log lines (log_format auto); development: readable ones.
    environment: Literal["development", "production"] = "development"
    log_format: Literal["auto", "console", "json"] = "auto"

    # Auth
    access_token_expire_minutes: int = 60 * 24
    max_body_bytes: int = 1_000_000
    # Sign-in and registration throttling; each limit counts within one window that starts at
    # the first counted attempt and ends window seconds later (then the count starts over).
    auth_window_seconds: float = Field(default=60.0, gt=0)
    # Failed sign-ins for one account from one client address (the 11th is refused).
    login_max_failures: int = Field(default=10, ge=1)
    # Failed sign-ins for one account from all addresses together (distributed guessing).
    login_max_failures_per_account: int = Field(default=50, ge=1)
    # Failed sign-ins from one client address across all accounts (credential stuffing).
    login_max_failures_per_address: int = Field(default=100, ge=1)
    registrations_per_address: int = Field(default=20, ge=1)
    registrations_per_email: int = Field(default=5, ge=1)
    # Where the counters live: the database (embedded default) or Redis (several servers);
    # "auto" picks Redis when redis_url is set.
    rate_limit_backend: Literal["auto", "database", "redis"] = "auto"
    redis_url: str | None = None
    # Prepended to every key this service writes in Redis (deployments sharing one Redis).
    redis_key_prefix: str = "adanalysis:"
    # Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For is believed.
    trusted_proxies: list[str] = []

    # Scale-out (ADANALYSIS_EXECUTOR=celery): the Celery broker, its queue, worker threads.
    broker_url: str = "redis://127.0.0.1:6379/0"
    # Premium jobs go to "<celery_queue>.premium", which workers consume first.
    celery_queue: str = Field(default="adanalysis", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # Jobs one `adanalysis worker` process runs at once (0 = max_concurrent_jobs).
    worker_concurrency: int = Field(default=0, ge=0)
    # Seconds a publish to the broker may take before start-analysis answers 503.
    broker_publish_timeout_seconds: float = Field(default=3.0, gt=0)
    # OpenAI calls in flight across every process sharing Redis (or this process, embedded).
    openai_max_concurrency: int = Field(default=8, ge=1)

    # Job system
    max_concurrent_jobs: int = Field(default=4, ge=1)
    # Jobs one user may run at once across job types (one per type is the database's rule).
    max_running_jobs_per_user: int = Field(default=1, ge=1)
    job_timeout_seconds: int = Field(default=3600, ge=1)
    max_attempts: int = Field(default=3, ge=1)
    heartbeat_interval_seconds: float = Field(default=5.0, gt=0)
    # A running job whose heartbeat is older than this is taken as orphaned by a dead process.
    stale_after_seconds: float = Field(default=60.0, gt=0)
    progress_min_interval_seconds: float = Field(default=1.0, ge=0)
    cleanup_days: int = Field(default=7, ge=1)
    default_estimated_duration_seconds: int = 300
    # Extra modules whose register_jobs(registry) adds job types at start-up (plugins, tests).
    job_modules: list[str] = []

    # Notifications when a job ends. Email is off until smtp_host is set.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "adanalysis <noreply@localhost>"
    smtp_starttls: bool = False  # upgrade the connection with STARTTLS (port 587)
    smtp_tls: bool = False  # TLS from the start (port 465)
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    # Each email or webhook delivery is tried this many times, waiting base * 2^n between tries.
    notification_attempts: int = Field(default=5, ge=1)
    notification_retry_base_seconds: float = Field(default=5.0, ge=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # Webhooks to loopback, private and link-local addresses are refused (the server would call
    # its own network for a user); true for a receiver on an internal network, and in tests.
    webhook_allow_private: bool = False

    # Facebook Graph API
    graph_api_url: str = "https://graph.facebook.com"
    graph_api_version: str = "v25.0"
    ad_effective_statuses: list[str] = ["ACTIVE", "PAUSED"]
    graph_timeout_seconds: float = 30.0
    graph_max_retries: int = 4
    # Ad performance period: a Graph date preset, or a time range when both dates are set.
    insights_date_preset: str = Field(default="last_30d", pattern=r"^[a-z0-9_]{1,24}$")
    insights_since: date | None = None
    insights_until: date | None = None
    # Check the token and ad account against the Graph API when credentials are saved.
    validate_credentials: bool = True

    # Media
    max_video_bytes: int = 500 * 1024 * 1024
    download_timeout_seconds: float = 120.0
    ffmpeg_path: str | None = None

    # Transcription and insights
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_transcription_model: str = "whisper-1"
    openai_analysis_model: str = "gpt-4o-mini"
    openai_timeout_seconds: float = 120.0
    openai_max_retries: int = 3
    whisper_model: str | None = None  # model name or directory; default: the bundled base model
    whisper_compute_type: str = "int8"
    # Local speech: child processes per server/worker process, shared fairly by all its jobs
    # (0 = one per core); CPU threads of each (0 = cores / processes).
    speech_workers: int = Field(default=0, ge=0)
    whisper_cpu_threads: int = Field(default=0, ge=0)
    # Added to the speech processes' niceness, so the API keeps the CPU it needs (0 = same).
    speech_nice: int = Field(default=10, ge=0, le=19)
    # Beam 5 cut the word error rate (0.159 -> 0.138) but not the insight errors, for 18 % more
    # time; VAD costs no measurable time and keeps timestamps right after a music intro (make eval).
    whisper_beam_size: int = Field(default=1, ge=1, le=10)
    whisper_vad: bool = True  # Silero VAD before decoding: skips silence and music

    # Pipeline concurrency per job (videos in flight per I/O-bound stage). Local transcription
    # is bounded by speech_workers for the whole process instead.
    download_concurrency: int = Field(default=4, ge=1)
    transcribe_concurrency: int = Field(default=4, ge=1)  # OpenAI uploads in flight
    analyze_concurrency: int = Field(default=4, ge=1)

    # Sandbox Graph API (demo and tests)
    sandbox: bool = False
    sandbox_latency_seconds: float = 0.0  # added to each sandbox Graph call (demos, tests)
    sandbox_download_latency_seconds: float = 0.0
    public_url: str = "http://127.0.0.1:8000"

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # ValueError names the bad entry
        return value

    @property
    def resolved_rate_limit_backend(self) -> Literal["database", "redis"]:
        """The rate-limit store: the configured one, or Redis when a Redis URL is set."""
        if self.rate_limit_backend != "auto":
            return self.rate_limit_backend
        return "redis" if self.redis_url else "database"

    @property
    def json_logs(self) -> bool:
        """Whether log lines are JSON: asked for, or production with the format left on auto."""
        if self.log_format != "auto":
            return self.log_format == "json"
        return self.environment == "production"

    @property
    def events_redis_url(self) -> str | None:
        """Where job events travel between processes: redis_url, else a Redis broker."""
        if self.redis_url:
            return self.redis_url
        if self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return None

    @property
    def resolved_worker_concurrency(self) -> int:
        """Jobs per worker process: the setting, or max_concurrent_jobs."""
        return self.worker_concurrency or self.max_concurrent_jobs

    @property
    def insights_period(self) -> str:
        """The key performance rows are stored under: the preset, or 'since..until'."""
        if self.insights_since and self.insights_until:
            return f"{self.insights_since.isoformat()}..{self.insights_until.isoformat()}"
        return self.insights_date_preset

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'adanalysis.db').resolve()}"

    def resolved_secret_key(self) -> str:
        """The secret key; generated once and persisted in the data directory when not set."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # O_EXCL: two processes starting at once must agree on one key.
        try:
            fd = path.open("x")
        except FileExistsError:
            return path.read_text().strip()
        with fd:
            fd.write(key)
        path.chmod(0o600)
        return key


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
