"""customer_service's console contribution (the ``moesaic.pages`` entry point; see ui/contributions.py).

Order and user cards for the tools that return those records, the case review page, the returns and exchanges
form, and the panel beside its conversations in the operator inbox (the customer, their orders, the store's
actions with a confirmation step). Like every
module of this package it imports Streamlit, ``ui.client`` and the standard library only, never
``moesaic``: the console loads it without the platform.
"""

from __future__ import annotations

from apps.customer_service.pages.cards import order_card, user_card
from apps.customer_service.pages.desk import desk_panel

ORDER_TOOLS = ("get_order_details", "cancel_pending_order", "exchange_delivered_order_items",
               "modify_pending_order_address", "modify_pending_order_items", "modify_pending_order_payment",
               "return_delivered_order_items")
USER_TOOLS = ("get_user_details", "modify_user_address")

PAGES = [{"path": "review.py", "title": "Case review", "icon": "🔎"},
         {"path": "returns.py", "title": "Returns & exchanges", "icon": "↩️"}]
TOOL_VIEWS = {**{tool: order_card for tool in ORDER_TOOLS}, **{tool: user_card for tool in USER_TOOLS}}
DESK_PANEL = desk_panel
