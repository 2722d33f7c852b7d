"""The app's part of the data lifecycle (``AppManifest.erase`` and ``export``): its store rows of a tenant.

A data subject is a store user, named by ``email`` (case-insensitive) or by ``customer_id`` (the store's
``user_id``); erasing them removes the user with their addresses, payment methods and orders (items,
fulfillments, payment history, the orders' addresses). A whole tenant's erasure removes its whole store
(the ``cs_`` tables live on the store's own MetaData, so the platform does not delete them itself). The
store keeps no rows per conversation. The export lists every store row of the tenant, table by table.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from apps.customer_service import store
from moesaic.apps import AppContext, Erasure

# children before parents, so that deleting in this order never breaks a foreign key
STORE_TABLES = (store.OrderItem, store.Fulfillment, store.PaymentTransaction, store.Order, store.PaymentMethod, store.User,
                store.Variant, store.Product, store.Address)


def erase(ctx: AppContext, erasure: Erasure) -> dict[str, int]:
    """Remove the store rows of a data subject or of a whole tenant; {table: rows removed}."""
    if erasure.conversation_ids:
        return {}
    removed: Counter[str] = Counter()
    with Session(ctx.db.engine) as session, session.begin():
        if erasure.whole_tenant:
            for table in STORE_TABLES:
                removed[table.__tablename__] += _delete(session, table, table.tenant_id == erasure.tenant_id)
        else:
            removed.update(_erase_users(session, erasure))
    if erasure.whole_tenant:
        retail = ctx.services.get("store")
        if retail is not None:  # an empty store is seeded again on its next use, not assumed seeded
            retail._seeded.discard(erasure.tenant_id)
    return {name: count for name, count in removed.items() if count}


def _erase_users(session: Session, erasure: Erasure) -> Counter[str]:
    User, Order, Address, PaymentMethod = store.User, store.Order, store.Address, store.PaymentMethod
    tenant = erasure.tenant_id
    named = []
    if erasure.email:
        named.append(func.lower(User.email) == erasure.email.strip().lower())
    if erasure.customer_id:
        named.append(User.user_id == erasure.customer_id.strip())
    removed: Counter[str] = Counter()
    if not named:
        return removed
    users = session.execute(select(User.user_id, User.address_id).where(User.tenant_id == tenant, or_(*named))).all()
    if not users:
        return removed
    user_ids = [u for u, _ in users]
    orders = session.execute(select(Order.order_id, Order.address_id).where(
        Order.tenant_id == tenant, Order.user_id.in_(user_ids))).all()
    order_ids = [o for o, _ in orders]
    addresses = {a for _, a in users} | {a for _, a in orders}
    for child in (store.OrderItem, store.Fulfillment, store.PaymentTransaction):
        removed[child.__tablename__] += _delete(session, child, child.tenant_id == tenant, child.order_id.in_(order_ids))
    removed[Order.__tablename__] += _delete(session, Order, Order.tenant_id == tenant, Order.order_id.in_(order_ids))
    removed[PaymentMethod.__tablename__] += _delete(session, PaymentMethod, PaymentMethod.tenant_id == tenant,
                                                    PaymentMethod.user_id.in_(user_ids))
    removed[User.__tablename__] += _delete(session, User, User.tenant_id == tenant, User.user_id.in_(user_ids))
    removed[Address.__tablename__] += _delete(session, Address, Address.tenant_id == tenant, Address.id.in_(sorted(addresses)))
    return removed


def export(ctx: AppContext, tenant_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every store row of the tenant, by table (parents first)."""
    out: dict[str, list[dict[str, Any]]] = {}
    with Session(ctx.db.engine) as session:
        for table_class in reversed(STORE_TABLES):
            table = table_class.__table__
            rows = session.execute(select(table).where(table.c.tenant_id == tenant_id)).mappings().all()
            if rows:
                out[table_class.__tablename__] = [dict(row) for row in rows]
    return out


def _delete(session: Session, table: Any, *where: Any) -> int:
    result = session.execute(delete(table).where(*where).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
