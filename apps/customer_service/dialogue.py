"""The offline dialogue: what the customer_service app does with no language model, to the end of the job.

The platform's extractive model calls ``respond`` at every step of a turn (``OfflineBehaviour.dialogue``)
with the customer's message, the state this module kept (stored in the conversation, so a restart loses
nothing), the conversation's authenticated customer and the tool results of the turn. It finishes:

- authentication (email, or first and last name with the zip code), then whatever was asked before it;
- order status and the customer's orders;
- cancelling a pending order: the reason is asked, the exact action restated, an explicit "yes" runs it
  (the agent loop holds the write until then), and the result is confirmed;
- changing the shipping address of a pending order, or the customer's default address (same steps);
- product questions ("what product types do you have?", "is the T-Shirt available?");
- returns and exchanges of a delivered order point to the console's "Returns & exchanges" form (the customer
  finishes it there: order, items, reason, refund method or new item, confirm) and offer a person with the
  request and its reason; item and payment changes are offered to a person, and anything else it cannot do
  gets "I can't do that here; shall I pass you to a person?".

The identity rules are not checked here: the agent loop refuses in code (``moesaic.identity``); this
module only words those refusals for the customer. It parses text and picks tools; it runs nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

from apps.customer_service.knowledge import OFFLINE_FALLBACK
from apps.customer_service.prompts import IDENTITY_POLICY
from apps.customer_service.render import NOT_FOUND, TOOL_RENDERERS, money, payment_method_text, render_order, render_user
from apps.customer_service.rules import EMAIL, HUMAN, ITEM_ID, NAME, ORDER_ID, PRODUCT_ID, ZIP
from moesaic.apps import DialogueStep, DialogueTurn, RuleCall, ToolOutcome

YES = re.compile(r"^\W*(yes|yeah|yep|y|confirm(ed)?|go ahead)\b", re.I)
NO = re.compile(r"^\W*(no|nope|n|don'?t|do not|never ?mind|stop)\b", re.I)
CANCEL = re.compile(r"\bcancel", re.I)
RETURN = re.compile(r"\b(return|refund|send (it|them) back)", re.I)
EXCHANGE = re.compile(r"\b(exchange|swap)", re.I)
ADDRESS = re.compile(r"\baddress\b", re.I)
CHANGE = re.compile(r"\b(change|update|modify|correct|fix|new|wrong|different|moved?)\b", re.I)
USER_ADDRESS = re.compile(r"\b(my|default|account|profile|home)\s+(default\s+)?address\b", re.I)
PAYMENT_CHANGE = re.compile(r"\b(payment method|pay(ing)? with|different card|another card)\b", re.I)
ITEM_CHANGE = re.compile(r"\b(change|modify|switch)\b.*\b(items?|size|colou?r|variant)\b", re.I)
PRODUCT_TYPES = re.compile(r"\b(product types?|kinds? of products?|types? of products?|what (products|do you sell|does the store sell)|"
                           r"do you (sell|have|carry|stock))\b", re.I)
ASKED_PRODUCT = re.compile(r"\bdo you (?:sell|have|carry|stock)\s+(?:any\s+)?([a-z][a-z -]{1,40}?)(?:\?|\.|,|$| or | and )", re.I)
PRODUCT_INFO = re.compile(r"\b(available|in stock|price|cost|how much|options|colou?rs|sizes)\b", re.I)
FIRST_PERSON = re.compile(r"\b(I|I'm|I've|I'd|me|my|mine)\b", re.I)
MY_ORDERS = re.compile(r"\b(my orders|order history|my account|my profile|orders do i have|what did i order)\b", re.I)
REASONS = (
    (re.compile(r"\bmistake|by accident|accidentally|wrong(ly)? ordered\b", re.I), "ordered by mistake"),
    (re.compile(r"\bno longer need|don'?t need|do not need|not needed|no need\b", re.I), "no longer needed"),
)

ASK_AUTH = ("Before I can help with that, I need to confirm who you are: please send the email address on your "
            "account, or your first and last name with your zip code.")
CANT = ("I can't do that here; shall I pass you to a person? Reply \"yes\" and I will hand this conversation, "
        "with your request, to a member of our team, who will reply here.")
RETURN_OFFER = ("I can't complete a return or an exchange here in the chat. You can do it in the console's "
                "\"Returns & exchanges\" form (choose the order, the items, the reason, then the refund method or the new "
                "item, and confirm), or a person from our team can do it for you: reply \"yes\" and I will pass this "
                "conversation, with your request and its reason, to them.")
ASK_REASON = ("Why would you like to cancel it: is it no longer needed, or was it ordered by mistake? "
              "(Those are the two reasons our policy accepts.)")
ASK_ADDRESS = ("Please send the new address on one line, separated by commas: street, apartment or suite (or \"none\"), "
               "city, state, zip code, country. For example: 5 Elm Street, none, Portland, OR, 97205, USA")
ANYTHING_ELSE = "Is there anything else I can help you with?"
WHAT_YES = ("I'm not sure what you are answering. I can check an order, cancel a pending order, change an address, "
            "tell you about our products, or pass you to a person. What would you like to do?")
REFUSALS = {
    IDENTITY_POLICY.required: ASK_AUTH,
    IDENTITY_POLICY.not_owner: ("That isn't on your account, so I can't show it or change it: I can only help with the "
                                "account you confirmed in this conversation."),
    IDENTITY_POLICY.other_subject: ("This conversation is already linked to another account. I can only help one "
                                    "customer per conversation; please start a new conversation for the other account."),
}
NEEDS_IDENTITY = ("status", "orders", "cancel", "address")


def respond(turn: DialogueTurn) -> DialogueStep | None:
    """The next move; None leaves the answer to the extractive model (quotes from the knowledge base)."""
    if turn.results:
        return _after_tools(turn, turn.results[-1], dict(turn.state))
    text = turn.text.strip()
    step = _answer_pending(turn, text, dict(turn.state))
    if step is not None:
        return step
    if HUMAN.search(text):
        return _calls(RuleCall("transfer_to_human_agents", {"summary": f"The customer asked for a person: {text[:300]}"}), state={})
    request = classify(text)
    auth = _auth_call(text)
    if auth is not None:  # authenticate first, then do what was asked (in this message, or before it)
        pending = request or turn.state.get("pending")
        return _calls(auth, state={"pending": pending} if pending else {})
    if request is None:
        if (YES.match(text) or NO.match(text)) and len(text.split()) <= 4:
            if YES.match(text) and (OFFLINE_FALLBACK in turn.last_reply or CANT in turn.last_reply):
                return _calls(RuleCall("transfer_to_human_agents", {"summary": "The customer accepted a person's help (offline mode)."}), state={})
            return DialogueStep(reply=WHAT_YES, state={})
        return None  # a question for the knowledge base, or the fallback that offers a person
    return _start(request, turn.identity)


# ---------------------------------------------------------------- what the customer asks


def classify(text: str) -> dict[str, Any] | None:
    """The request in ``text``: a kind ("status", "orders", "cancel", "address", "products", "product", "offer")
    with what it names; None when it is none of these."""
    order = ORDER_ID.search(text)
    order_id = "#" + order.group(1).upper() if order else None
    if RETURN.search(text) or EXCHANGE.search(text):
        topic = "an exchange" if EXCHANGE.search(text) else "a return"
        return {"kind": "offer", "form": True, "summary": f"The customer wants {topic}" + (f" for order {order_id}" if order_id else "")
                + f" (offline mode); their words: {text[:300]}"}
    personal = order_id is not None or bool(FIRST_PERSON.search(text))  # else a question about the policy
    if CANCEL.search(text) and personal:
        return {"kind": "cancel", "order_id": order_id, "reason": parse_reason(text)}
    if ADDRESS.search(text) and CHANGE.search(text) and personal:
        user_level = order_id is None and bool(USER_ADDRESS.search(text) or not re.search(r"\border\b", text, re.I))
        return {"kind": "address", "order_id": order_id, "target": "user" if user_level else "order"}
    if PAYMENT_CHANGE.search(text) and CHANGE.search(text) or ITEM_CHANGE.search(text):
        return {"kind": "offer", "summary": f"The customer wants to change a pending order (offline mode); their words: {text[:300]}"}
    if PRODUCT_TYPES.search(text):
        asked = ASKED_PRODUCT.search(text)
        return {"kind": "products", "asked": asked.group(1).strip().lower() if asked else ""}
    product, item = PRODUCT_ID.search(text), ITEM_ID.search(text)
    if product or item:
        return {"kind": "product", "product_id": product.group(1) if product else None, "item_id": item.group(1) if item else None}
    if order_id:
        return {"kind": "status", "order_id": order_id}
    if MY_ORDERS.search(text):
        return {"kind": "orders"}
    if PRODUCT_INFO.search(text):
        return {"kind": "products", "asked": "", "lookup": text[:300]}
    return None


def parse_reason(text: str) -> str | None:
    return next((reason for pattern, reason in REASONS if pattern.search(text)), None)


def parse_address(text: str) -> dict[str, str] | None:
    """``street, [apt or "none",] city, state, zip[, country]`` (state and zip may share a part: "OR 97205")."""
    parts = [p.strip() for p in re.split(r"[,\n]", text) if p.strip()]
    zip_at = next((i for i, p in enumerate(parts) if re.fullmatch(r"(?:[A-Za-z]{2}\s+)?\d{5}", p)), None)
    if zip_at is None:
        return None
    state_zip = parts[zip_at].split()
    before, after = parts[:zip_at], parts[zip_at + 1:]
    if len(state_zip) == 2:
        state, zip_code = state_zip
    elif before:
        state, zip_code, before = before[-1], state_zip[0], before[:-1]
    else:
        return None
    if len(before) < 2:
        return None
    city, street = before[-1], before[:-1]
    address2 = street[1] if len(street) > 1 and street[1].lower() not in ("none", "-", "n/a") else ""
    return {"address1": street[0], "address2": address2, "city": city, "state": state,
            "country": after[0] if after else "USA", "zip": zip_code}


def _auth_call(text: str) -> RuleCall | None:
    email = EMAIL.search(text)
    if email:
        return RuleCall("find_user_id_by_email", {"email": email.group(0)})
    name, zip_code = NAME.search(text), ZIP.search(text)
    if name and zip_code and not ORDER_ID.search(text.replace(zip_code.group(1), "")) and not ADDRESS.search(text):
        return RuleCall("find_user_id_by_name_zip", {"first_name": name.group(1), "last_name": name.group(2), "zip": zip_code.group(1)})
    return None


# ---------------------------------------------------------------- doing it


def _start(request: dict[str, Any], identity: str | None) -> DialogueStep:
    kind = request["kind"]
    if kind in NEEDS_IDENTITY and identity is None:
        return DialogueStep(reply=ASK_AUTH, state={"pending": request})
    if kind == "offer":
        return DialogueStep(reply=RETURN_OFFER if request.get("form") else CANT,
                            state={"flow": "offer", "summary": request["summary"]})
    if kind == "products":
        return _calls(RuleCall("list_all_product_types", {}), state={"flow": "products", **request})
    if kind == "product":
        if request.get("product_id"):
            return _calls(RuleCall("get_product_details", {"product_id": request["product_id"]}), state={})
        return _calls(RuleCall("get_item_details", {"item_id": request["item_id"]}), state={})
    if kind == "orders":
        return _calls(RuleCall("get_user_details", {"user_id": identity}), state={"flow": "orders"})
    if kind == "address" and request["target"] == "user":
        return DialogueStep(reply=f"I can change the default address of your account. {ASK_ADDRESS}",
                            state={"flow": "address", "target": "user", "user_id": identity})
    if not request.get("order_id"):
        verb = "cancel" if kind == "cancel" else "change the address of"
        return DialogueStep(reply=f"Which order should I {verb}? Please give its id, like #W1234567.",
                            state={"flow": "which_order", "request": request})
    flow = {"status": "status", "cancel": "cancel_check", "address": "address_check"}[kind]
    return _calls(RuleCall("get_order_details", {"order_id": request["order_id"]}), state={"flow": flow, **request})


def _answer_pending(turn: DialogueTurn, text: str, state: dict[str, Any]) -> DialogueStep | None:
    """The customer's answer to the question the last turn asked (None: not an answer; a new request)."""
    flow = state.get("flow")
    if flow == "confirm":
        if YES.match(text):
            return _calls(RuleCall(state["tool"], state["arguments"]), state=state)
        if NO.match(text):
            return DialogueStep(reply=f"All right, I have not {state['undone']}. {ANYTHING_ELSE}", state={})
    elif flow == "offer":
        if YES.match(text):
            return _calls(RuleCall("transfer_to_human_agents", {"summary": state["summary"]}), state={})
        if NO.match(text):
            return DialogueStep(reply=f"All right. {ANYTHING_ELSE}", state={})
    elif flow == "cancel_reason":
        reason = parse_reason(text)
        if reason:
            return _hold_cancel(state, reason)
        if classify(text) is None:
            return DialogueStep(reply=f"Sorry, I need one of the two reasons. {ASK_REASON}", state=state)
    elif flow == "address":
        address = parse_address(text)
        if address:
            return _hold_address(state, address)
        if classify(text) is None and _auth_call(text) is None:
            return DialogueStep(reply=f"Sorry, I could not read that address. {ASK_ADDRESS}", state=state)
    elif flow == "which_order":
        order = ORDER_ID.search(text)
        if order:
            return _start({**state["request"], "order_id": "#" + order.group(1).upper()}, turn.identity)
    return None


def _hold_cancel(state: dict[str, Any], reason: str) -> DialogueStep:
    arguments = {"order_id": state["order_id"], "reason": reason}
    return _calls(RuleCall("cancel_pending_order", arguments), state={**state, "flow": "cancel_hold", "reason": reason})


def _hold_address(state: dict[str, Any], address: dict[str, str]) -> DialogueStep:
    if state.get("target") == "user":
        return _calls(RuleCall("modify_user_address", {"user_id": state["user_id"], **address}), state={**state, "flow": "address_hold"})
    return _calls(RuleCall("modify_pending_order_address", {"order_id": state["order_id"], **address}),
                  state={**state, "flow": "address_hold"})


def _after_tools(turn: DialogueTurn, result: ToolOutcome, state: dict[str, Any]) -> DialogueStep:
    error = result.error
    if error in REFUSALS:
        keep = {"pending": state["pending"]} if error == IDENTITY_POLICY.required and state.get("pending") else {}
        return DialogueStep(reply=REFUSALS[error], state=keep)
    if result.name.startswith("find_user_id"):
        if error:
            return DialogueStep(reply="I could not find an account with those details. Please check the email, or send "
                                "your first and last name with your zip code.", state=state)
        pending = state.get("pending")
        if pending:
            return _start(pending, turn.identity)
        return DialogueStep(reply=f"Thank you, I found your account ({result.output}). How can I help: check an order, "
                            "cancel a pending order, change an address, or something else?", state={})
    if result.held:
        return _restate(result, state)
    if error:
        said = NOT_FOUND.get(error, f"Sorry, I could not do that: {error}.")
        return DialogueStep(reply=f"{said} {ANYTHING_ELSE}", state={})
    flow = state.get("flow")
    if result.name == "get_order_details":
        return _after_order(json.loads(result.output), state)
    if result.name == "get_user_details":
        return DialogueStep(reply=f"{render_user(json.loads(result.output))}\n\n{ANYTHING_ELSE}", state={})
    if result.name == "list_all_product_types":
        return _after_product_types(json.loads(result.output), state)
    if result.name in ("cancel_pending_order", "modify_pending_order_address", "modify_user_address"):
        return DialogueStep(reply=_done(result), state={})
    renderer = TOOL_RENDERERS.get(result.name)
    body = renderer(result.output) if renderer else result.output
    return DialogueStep(reply=f"{body}\n\n{ANYTHING_ELSE}" if flow is None else body, state={})


def _after_order(order: dict[str, Any], state: dict[str, Any]) -> DialogueStep:
    flow, status, order_id = state.get("flow"), order["status"], order["order_id"]
    if flow == "cancel_check":
        if status != "pending":
            return DialogueStep(reply=f"Order {order_id} is {status}, so it can't be cancelled: only pending orders can be. "
                                f"{ANYTHING_ELSE}", state={})
        state = {**state, "brief": order_brief(order)}
        if state.get("reason"):
            return _hold_cancel(state, state["reason"])
        return DialogueStep(reply=f"Order {order_id} ({state['brief']}) is pending, so it can be cancelled. {ASK_REASON}",
                            state={**state, "flow": "cancel_reason"})
    if flow == "address_check":
        if "pending" not in status:
            return DialogueStep(reply=f"Order {order_id} is {status}, so its address can't be changed: only pending orders "
                                f"can be. {ANYTHING_ELSE}", state={})
        return DialogueStep(reply=f"Order {order_id} is pending, so I can change where it ships. {ASK_ADDRESS}",
                            state={**state, "flow": "address", "target": "order"})
    return DialogueStep(reply=f"{render_order(order)}\n\n{ANYTHING_ELSE}", state={})


def _after_product_types(types: dict[str, str], state: dict[str, Any]) -> DialogueStep:
    lookup = state.get("lookup", "").lower()
    named = [(name, pid) for name, pid in types.items() if name.lower() in lookup]
    if named:  # "is the T-Shirt available in blue?": show that product
        return _calls(RuleCall("get_product_details", {"product_id": named[0][1]}), state={"flow": "product"})
    listing = f"We sell {len(types)} kinds of products: " + ", ".join(sorted(types)) + "."
    asked = state.get("asked", "")
    if asked:
        stem = asked.rstrip("s") if len(asked) > 3 else asked
        matches = sorted(name for name in types if stem in name.lower() or name.lower().rstrip("s") in asked)
        answer = (f"Yes, we sell {', '.join(matches)}." if matches else f"No, we don't sell {asked}.")
        listing = f"{answer} {listing}"
    return DialogueStep(reply=f"{listing} Ask me about any of them for its options and prices.", state={})


def _restate(result: ToolOutcome, state: dict[str, Any]) -> DialogueStep:
    """The exact action, before the customer's "yes" (the agent loop holds the write until then)."""
    arguments = result.arguments
    if result.name == "cancel_pending_order":
        what = (f"cancel order {arguments['order_id']}" + (f" ({state['brief']})" if state.get("brief") else "")
                + f", with the reason '{arguments['reason']}'. The payment is refunded: to a gift card at once, "
                "to other payment methods in 5 to 7 business days")
        undone = f"cancelled order {arguments['order_id']}"
    elif result.name == "modify_pending_order_address":
        what = f"change the shipping address of order {arguments['order_id']} to {address_text(arguments)}"
        undone = f"changed the address of order {arguments['order_id']}"
    else:
        what = f"change the default address of your account to {address_text(arguments)}"
        undone = "changed your address"
    return DialogueStep(reply=f"To be sure, I will {what}. Reply \"yes\" to go ahead, or \"no\" to leave it as it is.",
                        state={"flow": "confirm", "tool": result.name, "arguments": arguments, "undone": undone})


def _done(result: ToolOutcome) -> str:
    record = json.loads(result.output)
    if result.name == "cancel_pending_order":
        refunds = [t for t in record.get("payment_history") or [] if t["transaction_type"] == "refund"]
        paid = "; ".join(f"{money(t['amount'])} back to your {payment_method_text(t['payment_method_id'])}" for t in refunds)
        return (f"Done: order {record['order_id']} is now {record['status']}" + (f", {paid}" if paid else "")
                + f". {ANYTHING_ELSE}")
    if result.name == "modify_pending_order_address":
        return f"Done: order {record['order_id']} will ship to {address_text(record['address'])}. {ANYTHING_ELSE}"
    return f"Done: your account's address is now {address_text(record['address'])}. {ANYTHING_ELSE}"


def order_brief(order: dict[str, Any]) -> str:
    items = order.get("items") or []
    names = ", ".join(item["name"] for item in items)
    return f"{names}; items total {money(sum(item['price'] for item in items))}"


def address_text(address: dict[str, Any]) -> str:
    street = ", ".join(p for p in (address.get("address1"), address.get("address2")) if p)
    return f"{street}, {address.get('city')}, {address.get('state')} {address.get('zip')}, {address.get('country')}"


def _calls(*calls: RuleCall, state: dict[str, Any] | None = None) -> DialogueStep:
    return DialogueStep(calls=tuple(calls), state=state)
