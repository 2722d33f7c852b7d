"""The scope gate: the agent loop asks it about every customer message, whatever the model.

A message passes at once (no embedding) when it carries what retail support works with: an order id,
an email, a zip code, a product or item id, or a retail word ("refund", "gift card", a product name
from the store ...). Otherwise the clinc150 router (``scope.ScopeRouter``) decides, and the gate
refuses only when the router *confidently* names an intent outside retail (weather, flights, jokes,
clinc's own out-of-scope class). A message the router is unsure about goes on to the model (offline:
to the fallback that offers a person), so customers are not turned away by a classifier's doubt.
Once a conversation is under way the bar to refuse is higher: short replies ("the blue one") are
normal there. The gate never calls tools and never calls the chat model.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from apps.customer_service.rules import offline_rules
from apps.customer_service.scope import RETAIL_INTENTS, ScopeRouter
from apps.customer_service.store import Product, RetailStore
from moesaic.apps import ToolContext
from moesaic.types import Message

REFUSAL = (
    "Sorry, I can only help with shopping at our store: your orders, returns, exchanges, cancellations, "
    "payments and your account. Is there anything about an order I can help you with?"
)
ONGOING_MIN_CONFIDENCE = 0.8  # mid-conversation, refuse only what the router is this sure of
RETAIL_TERMS = re.compile(
    r"\b(orders?|ordered|return(s|ed|ing)?|refund(s|ed)?|exchang(e|es|ed|ing)|cancel(s|led|ling|lation)?|"
    r"deliver(y|ed)?|ship(ping|ped|ment)?|package|parcel|track(ing)?|items?|products?|size|colou?r|"
    r"gift ?cards?|credit ?cards?|paypal|payments?|pay|paid|charged?|refunds?|balance|price|cost|"
    r"address|zip|e-?mail|account|profile|purchase[ds]?|bought|buy|store|shop|polic(y|ies)|"
    r"human|person|agent|representative|receipt|warranty|damaged|broken|wrong)\b",
    re.IGNORECASE,
)

_router: ScopeRouter | None = None
_router_lock = threading.Lock()
_product_words: "weakref.WeakKeyDictionary[RetailStore, dict[str, frozenset[str]]]" = weakref.WeakKeyDictionary()
_WORD = re.compile(r"[a-z]{3,}")


def get_router() -> ScopeRouter:
    """The committed router over the platform's shared MiniLM, loaded once per process."""
    global _router
    with _router_lock:
        if _router is None:
            from moesaic.retrieval.embeddings import default_embedder

            _router = ScopeRouter.load(embedder=default_embedder())
        return _router


def product_words(store: RetailStore | None, tenant_id: str) -> frozenset[str]:
    """Words of the product names in ``tenant_id``'s store ("keyboard", "thermostat"), read once per
    store and tenant."""
    if store is None:
        return frozenset()
    by_tenant = _product_words.setdefault(store, {})
    words = by_tenant.get(tenant_id)
    if words is None:
        with store.transaction(tenant_id) as session:
            names = session.scalars(select(Product.name).where(Product.tenant_id == tenant_id)).all()
        words = frozenset(w for name in names for w in _WORD.findall(name.lower()))
        by_tenant[tenant_id] = words
    return words


def mentions_retail(text: str, ctx: ToolContext | None = None) -> bool:
    if offline_rules(text) or RETAIL_TERMS.search(text):
        return True
    if ctx is None:
        return False
    store = ctx.services.get("store")
    words = product_words(store if isinstance(store, RetailStore) else None, ctx.tenant_id)
    return bool(set(_WORD.findall(text.lower())) & words)


def refusal_for(text: str, *, ongoing: bool, router: Any = None) -> str | None:
    """Ask the router; refuse a confident non-retail intent (more confident still when ``ongoing``)."""
    router = router or get_router()
    probabilities = router.probabilities(router.embedder.embed_documents([text]))[0]  # [C]
    best = int(probabilities.argmax())
    intent, confidence = router.labels[best], float(probabilities[best])
    needed = max(router.threshold, ONGOING_MIN_CONFIDENCE) if ongoing else router.threshold
    if intent not in RETAIL_INTENTS and confidence >= needed:
        return REFUSAL
    return None


def scope_check(text: str, earlier: Sequence[Message], ctx: ToolContext) -> str | None:
    """The manifest's ``scope_check``: None to go on, or the polite refusal."""
    if not text.strip() or mentions_retail(text, ctx):
        return None
    ongoing = any(m.role == "assistant" and m.content and m.content != REFUSAL for m in earlier)
    return refusal_for(text, ongoing=ongoing)
