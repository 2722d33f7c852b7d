"""``AnswerCachePolicy``: an app's settings for the answer cache, given in its manifest.

Every field left ``None`` falls back to the platform's setting (``MOESAIC_ANSWER_CACHE*``), so an app only
says what it does differently. This module only holds and resolves values; ``answers.cache`` uses them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from moesaic.config import Settings


class AnswerCachePolicy(BaseModel):
    """``AppManifest.answer_cache``: ``enabled=False`` turns generated-answer caching off for the app (pinned
    answers, which operators set on purpose, still apply)."""

    model_config = ConfigDict(frozen=True)

    enabled: bool | None = None
    ttl_seconds: int | None = Field(default=None, ge=1, le=365 * 86400)
    threshold: float | None = Field(default=None, gt=0.0, le=1.0)


@dataclass(frozen=True)
class ResolvedPolicy:
    """What one app's cache does: the manifest's values over the platform's settings."""

    enabled: bool
    ttl_seconds: int
    threshold: float
    max_entries: int

    @classmethod
    def of(cls, policy: AnswerCachePolicy, settings: Settings) -> "ResolvedPolicy":
        return cls(
            enabled=settings.answer_cache if policy.enabled is None else policy.enabled and settings.answer_cache,
            ttl_seconds=policy.ttl_seconds or settings.answer_cache_ttl_s,
            threshold=policy.threshold or settings.answer_cache_threshold,
            max_entries=settings.answer_cache_max_entries,
        )
