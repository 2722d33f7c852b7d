"""Every console page (core and app pages) in AppTest against the fake API; app pages in the navigation
only for apps the key may use; tool outputs drawn by the app's registered views."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui.contributions as contributions
from fake_moesaic_api import API_KEY, ORDER

ROOT = Path(__file__).resolve().parents[2]
CORE_PAGES = sorted((ROOT / "ui" / "core_pages").glob("*.py"))
APP_PAGES = [page.path for c in contributions.installed().apps.values() for page in c.pages]
REVIEW = ROOT / "apps" / "customer_service" / "pages" / "review.py"
USER = {"user_id": "yusuf_rossi_9620", "name": {"first_name": "Yusuf", "last_name": "Rossi"},
        "email": "yusuf@example.com", "payment_methods": {"gift_card_1": {"source": "gift_card", "id": "gift_card_1",
                                                                          "balance": 12.5}},
        "orders": ["#W2378156"]}


def _page(path: Path, url: str, key: str = API_KEY) -> AppTest:
    at = AppTest.from_file(str(path), default_timeout=20)
    at.session_state["api_url"] = url
    at.session_state["api_key"] = key
    return at


def _relative(path: Path) -> str:
    """A page path as AppTest.switch_page wants it: relative to ui/app.py's folder."""
    return str(Path("..") / path.relative_to(ROOT))


@pytest.fixture
def busy_api(fake_api):  # type: ignore[no-untyped-def]
    """The fake API with something on every page: documents, a handed-off conversation with tool calls."""
    fake_api.add_document("retail_policy", "policy.md", "indexed")
    conv = fake_api.add_conversation("customer_service", "Cancel my order", state="handed_off")
    fake_api.add_message(conv["id"], "user", "Cancel #W2378156 please", author="user")
    fake_api.add_tool_call(conv["id"], "get_user_details", {"user_id": USER["user_id"]}, json.dumps(USER))
    fake_api.add_tool_call(conv["id"], "get_order_details", {"order_id": ORDER["order_id"]}, json.dumps(ORDER))
    fake_api.add_tool_call(conv["id"], "cancel_pending_order", {"order_id": ORDER["order_id"], "reason": "no longer needed"},
                           json.dumps({**ORDER, "status": "cancelled", "cancel_reason": "no longer needed"}))
    fake_api.add_tool_call(conv["id"], "get_order_details", {"order_id": "#W0"}, "Error: Order not found")
    fake_api.add_message(conv["id"], "assistant", "Your order is cancelled.")
    return fake_api


def test_every_installed_app_contributes_a_page() -> None:
    assert REVIEW in APP_PAGES


@pytest.mark.parametrize("path", CORE_PAGES + APP_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_page_renders_without_an_error(path: Path, busy_api) -> None:  # type: ignore[no-untyped-def]
    at = _page(path, busy_api.url).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title, "every page has a title"


def test_app_pages_are_listed_only_for_apps_the_key_may_use(busy_api) -> None:  # type: ignore[no-untyped-def]
    at = _page(ROOT / "ui" / "app.py", busy_api.url).run()
    at.switch_page(_relative(REVIEW)).run()
    assert not at.exception and not at.error
    assert at.title[0].value == "🔎 Case review"

    busy_api.apps = [a for a in busy_api.apps if a["name"] != "customer_service"]
    st.cache_data.clear()  # the console caches the app list for 15 s per URL and key
    at = _page(ROOT / "ui" / "app.py", busy_api.url).run()
    assert at.title[0].value == "💬 Chat"
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(_relative(REVIEW))


def test_no_app_pages_when_the_api_rejects_the_key(busy_api) -> None:  # type: ignore[no-untyped-def]
    at = _page(ROOT / "ui" / "app.py", busy_api.url, key="wrong-key").run()
    assert "Invalid API key" in at.error[0].value  # from the chat page
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(_relative(REVIEW))


def test_case_review_shows_changes_lookups_and_failures_as_cards(busy_api) -> None:  # type: ignore[no-untyped-def]
    at = _page(REVIEW, busy_api.url).run()
    assert {m.label: m.value for m in at.metric} == {"Changes": "1", "Lookups": "2", "Failed calls": "1"}
    assert [s.value for s in at.subheader] == ["Changes made", "Records looked up", "Failed calls"]
    texts = "\n".join(m.value for m in at.markdown)
    assert f"**Order {ORDER['order_id']}** · `cancelled`" in texts and "Cancelled: no longer needed" in texts
    assert "**User yusuf_rossi_9620** · Yusuf Rossi" in texts and "balance $12.50" in texts
    assert "Order not found" in at.warning[0].value


def test_case_review_without_conversations_says_so(fake_api) -> None:  # type: ignore[no-untyped-def]
    at = _page(REVIEW, fake_api.url).run()
    assert not at.exception and not at.error
    assert "No customer_service conversations yet" in at.info[0].value


def test_chat_draws_customer_service_records_with_its_cards_in_history(open_page, busy_api) -> None:  # type: ignore[no-untyped-def]
    conv = next(iter(busy_api.conversations))
    at = open_page("chat")
    at.query_params["app"] = "customer_service"
    at.query_params["conversation"] = conv
    at.run()
    texts = "\n".join(m.value for m in at.markdown)
    assert f"**Order {ORDER['order_id']}** · `delivered`" in texts and "**User yusuf_rossi_9620**" in texts
    assert any("Order not found" in c.value for c in at.code)  # an error text is not a record: the generic view


def test_apps_without_a_view_get_the_generic_tool_view(open_page) -> None:  # type: ignore[no-untyped-def]
    at = open_page("chat")
    at.query_params["app"] = "kb_assistant"
    at.run()
    at.chat_input[0].set_value("Where is my order?").run()
    assert "🔧 Tool call: get_order_details" in [e.label for e in at.expander]
    assert not any("**Order" in m.value for m in at.markdown)
    assert any(j.value and ORDER["order_id"] in j.value for j in at.json)


def _with_fake_pages(monkeypatch: pytest.MonkeyPatch, views: dict | None = None) -> None:
    found = contributions.discover([EntryPoint("kb_assistant", "fake_pages", contributions.GROUP)])
    if views is not None:
        found = contributions.Discovery(apps={"kb_assistant": contributions.AppContribution(
            "kb_assistant", found.apps["kb_assistant"].pages, views)})
    monkeypatch.setattr(contributions, "installed", lambda: found)


def test_chat_asks_the_conversations_app_for_its_tool_views(open_page, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _with_fake_pages(monkeypatch)
    at = open_page("chat")
    at.query_params["app"] = "kb_assistant"
    at.run()
    at.chat_input[0].set_value("Where is my order?").run()
    assert any("FAKE VIEW total 233.08" in m.value for m in at.markdown)
    at.run()  # and again from the stored history
    assert any("FAKE VIEW total 233.08" in m.value for m in at.markdown)


def test_a_failing_app_view_falls_back_to_the_generic_view(open_page, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import fake_pages

    _with_fake_pages(monkeypatch, {"get_order_details": fake_pages.broken_view})
    at = open_page("chat")
    at.query_params["app"] = "kb_assistant"
    at.run()
    at.chat_input[0].set_value("Where is my order?").run()
    assert not at.exception
    assert "The kb_assistant view of get_order_details failed (KeyError" in at.warning[0].value
    assert any(j.value and ORDER["order_id"] in j.value for j in at.json)


def test_the_console_shows_a_broken_contribution_and_other_apps_pages(fake_api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    found = contributions.discover([EntryPoint("kb_assistant", "fake_pages", contributions.GROUP),
                                    EntryPoint("customer_service", "no_such_pages_module", contributions.GROUP)])
    monkeypatch.setattr(contributions, "installed", lambda: found)
    at = _page(ROOT / "ui" / "app.py", fake_api.url).run()
    assert "app 'customer_service': console pages 'no_such_pages_module' failed to import" in at.sidebar.error[0].value
    at.switch_page(_relative(ROOT / "tests" / "ui" / "fake_pages" / "hello.py")).run()
    assert at.title[0].value == "👋 Hello page" and "kb_assistant" in at.markdown[0].value


def test_chat_lists_only_apps_with_a_chat_part(open_page, fake_api) -> None:  # type: ignore[no-untyped-def]
    fake_api.apps.append({"name": "ledger", "title": "Ledger", "chat": False, "tools": []})
    at = open_page("chat").run()
    assert at.sidebar.selectbox[0].options == ["Customer service", "Knowledge assistant"]


def test_no_streamlit_v1_pages_folder_beside_the_console() -> None:
    """Until a session has run st.navigation, Streamlit serves /<name> from ui/pages/<name>.py without
    running ui/app.py (no navigation, no app pages); the browser test shows it, this says it at once."""
    assert not (ROOT / "ui" / "pages").exists()
