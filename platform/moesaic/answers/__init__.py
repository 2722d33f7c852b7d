"""The answer cache: repeated first-turn questions answered without a model call, and pinned answers.

``AnswerCache`` looks answers up (exact normalised question, then MiniLM near-duplicates) and keeps them
under a version key of the knowledge base and the app; ``bypass_reason`` says which turns may use it;
``AnswerCachePolicy`` is an app's manifest setting. The agent loop (``agent.caching``) wires them into a turn;
the API serves pinned answers at ``/v1/apps/{app}/answers``.
"""

from moesaic.answers.cache import CACHED, PINNED, AnswerCache, CacheHit, CacheScope, Lookup
from moesaic.answers.eligibility import bypass_reason
from moesaic.answers.policy import AnswerCachePolicy, ResolvedPolicy

__all__ = ["CACHED", "PINNED", "AnswerCache", "AnswerCachePolicy", "CacheHit", "CacheScope", "Lookup", "ResolvedPolicy",
           "bypass_reason"]
