"""Typed settings read from ``MOESAIC_*`` environment variables.

A bad value fails at start-up with the name of the setting; nothing here reads files or the network.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from moesaic.errors import ConfigError

# upload size limits per file type, in MiB (MOESAIC_UPLOAD_LIMITS_MB overrides some: "pdf=100,csv=20")
DEFAULT_UPLOAD_LIMITS_MB: dict[str, float] = {"pdf": 50, "docx": 25, "html": 10, "text": 10, "json": 20, "csv": 50}
MAX_UPLOAD_LIMIT_MB = 10_240


def parse_upload_limits(spec: str) -> dict[str, float]:
    """``"pdf=100, csv=20"`` -> every type's limit in MiB (defaults for the types not named); ValueError naming
    the bad part."""
    limits = dict(DEFAULT_UPLOAD_LIMITS_MB)
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = name.strip().lower()
        if name not in limits:
            raise ValueError(f"unknown upload type {name!r} in {part!r}; types: {', '.join(DEFAULT_UPLOAD_LIMITS_MB)}")
        try:
            size = float(value)
        except ValueError:
            raise ValueError(f"{part!r}: the limit must be a number of MiB, e.g. {name}=20") from None
        if not 0 < size <= MAX_UPLOAD_LIMIT_MB:
            raise ValueError(f"{part!r}: the limit must be more than 0 and at most {MAX_UPLOAD_LIMIT_MB} MiB")
        limits[name] = size
    return limits


class Settings(BaseSettings):
    """Everything the platform can be told from the environment."""

    model_config = SettingsConfigDict(env_prefix="MOESAIC_", frozen=True, extra="ignore")

    home: Path = Field(default=Path(".moesaic"), description="State dir: SQLite file, Chroma dir.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; unset = SQLite in home.")
    chroma_url: str | None = Field(default=None, description="Chroma server URL; unset = embedded.")
    llm_base_url: str | None = Field(default=None, description="OpenAI-compatible base URL.")
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_tool_mode: Literal["auto", "native", "react"] = Field(
        default="auto", description="Tool calling: probe the endpoint (auto), trust it (native) or use JSON ReAct."
    )
    llm_timeout_s: float = Field(
        default=30.0, gt=0, le=600,
        description="Longest wait for the model's answer to start, retries included (and, streamed, between two pieces).",
    )
    llm_max_retries: int = Field(default=2, ge=0, le=10, description="Retries of a refused connection, 429 or 5xx, within the timeout.")
    bootstrap_api_key: str | None = Field(default=None, min_length=8)
    datasets_dir: Path = Path("../shared/data")
    redact_model_input: bool = Field(
        default=False, description="Hide emails, phones, card numbers... from the model (restored in tool calls)."
    )
    rerank_with_model: bool = Field(
        default=False, description="Rescore retrieved passages with the configured model (one extra model call per query)."
    )
    ingest_worker: bool = Field(
        default=True, description="Run a job consumer (ingestion and app jobs) inside this process."
    )
    redis_url: str | None = Field(default=None, description="Redis URL for the job queue; unset = SQLite file in home.")
    jobs_queue: str = Field(default="moesaic", pattern=r"^[A-Za-z0-9_.:-]{1,100}$", description="Job queue name.")
    worker_concurrency: int = Field(default=2, ge=1, le=64, description="Job handler threads per consumer.")
    job_lease_seconds: float = Field(
        default=60.0, ge=1, le=3600, description="A running job whose worker is silent this long goes to another worker."
    )
    max_message_chars: int = Field(
        default=100_000, ge=1, description="Longest chat message accepted, in characters (longer: 422)."
    )
    max_messages: int = Field(
        default=200, ge=1, description="Most messages accepted in one chat request (more: 422)."
    )
    max_tokens_limit: int = Field(
        default=32_768, ge=1, description="Largest `max_tokens` a chat request may ask for (larger: 422)."
    )
    ingest_parse_timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="Longest time reading one document may take; longer fails it, naming the limit."
    )
    ingest_max_unpacked_mb: int = Field(
        default=200, ge=1, description="Most a Word document may unpack to, in MiB (more: refused as a zip bomb)."
    )
    ingest_max_blocks: int = Field(
        default=200_000, ge=1, description="Most paragraphs, pages, rows or blocks in one document."
    )
    upload_limits_mb: str = Field(
        default="", description="Upload size limits per type in MiB, 'type=MiB' pairs: pdf, docx, html, text, json, csv "
        f"(defaults {', '.join(f'{k}={v:g}' for k, v in DEFAULT_UPLOAD_LIMITS_MB.items())}; larger: 413).",
    )
    rate_limit_per_minute: int = Field(
        default=1200, ge=0, description="Requests per minute per API key or session, all routes (0: no limit; over it: 429)."
    )
    rate_limit_chat_per_minute: int = Field(
        default=300, ge=0, description="Chat requests per minute per API key or session (0: no limit; over it: 429)."
    )
    key_cache_seconds: float = Field(
        default=2.0, ge=0, le=60,
        description="A verified API key is remembered in the process this long (0: off); revoking or rotating it "
                    "through this process forgets it at once, through another process within this time.",
    )
    turn_lock_seconds: float = Field(
        default=300.0, ge=5, le=3600,
        description="A chat turn holds its conversation; one whose process stopped renewing it for this long is released.",
    )
    answer_cache: bool = Field(
        default=True, description="Answer repeated first-turn questions from the answer cache (an app's manifest may turn it off)."
    )
    answer_cache_ttl_s: int = Field(default=86_400, ge=1, le=365 * 86_400, description="How long a cached answer is served.")
    answer_cache_threshold: float = Field(
        default=0.85, gt=0.0, le=1.0, description="Cosine similarity (MiniLM) from which a question is a near-duplicate of a cached one."
    )
    answer_cache_max_entries: int = Field(
        default=2000, ge=1, le=100_000, description="Most cached answers per tenant, app and knowledge base (the least used go)."
    )
    history_token_budget: int = Field(default=3000, ge=100)
    agent_max_steps: int = Field(default=6, ge=1, le=50)
    retrieval_top_k: int = Field(default=4, ge=1, le=50)
    api_url: str = Field(default="http://127.0.0.1:8000", description="Where the UI finds the API.")

    @field_validator("database_url", "chroma_url", "llm_base_url", "redis_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("upload_limits_mb")
    @classmethod
    def _valid_upload_limits(cls, value: str) -> str:
        parse_upload_limits(value)
        return value

    @property
    def upload_limits(self) -> dict[str, float]:
        """Every upload type's size limit in MiB."""
        return parse_upload_limits(self.upload_limits_mb)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'moesaic.db').resolve()}"

    @property
    def jobs_path(self) -> Path:
        """The embedded job queue's SQLite file (used when ``redis_url`` is unset)."""
        return self.home / "jobs.db"

    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"


def load_settings() -> Settings:
    """Read the environment; raise ConfigError naming each bad setting."""
    try:
        return Settings()
    except ValidationError as exc:
        names = ", ".join(
            f"MOESAIC_{'_'.join(str(p) for p in err['loc']).upper()} ({err['msg']})" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {names}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` instead)."""
    return load_settings()
