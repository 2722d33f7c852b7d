"""The chat page against a live fake API: apps, streaming answers, citations, tool calls, errors."""

from __future__ import annotations

from fake_moesaic_api import ANSWER, CITATION, ORDER


def _texts(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_chat_lists_apps_from_the_api(open_page) -> None:
    at = open_page("chat").run()
    assert not at.exception and not at.error
    assert at.sidebar.selectbox[0].options == ["Customer service", "Knowledge assistant"]
    assert "get_order_details" in at.caption[0].value


def test_sending_a_message_streams_the_answer_with_its_citation(open_page, fake_api) -> None:
    at = open_page("chat").run()
    at.chat_input[0].set_value("What is the return window?").run()
    assert not at.exception and not at.error
    assert ANSWER.split("[1]")[0].strip() in _texts(at)
    labels = [e.label for e in at.expander]
    assert f"[1] {CITATION['title']}" in labels
    assert any(CITATION["quote"] in m.value for m in at.markdown)
    # the new conversation is selected and listed in the sidebar
    (conversation_id,) = fake_api.conversations
    assert at.session_state["conversation_id"] == conversation_id
    assert any(b.key == f"conv-{conversation_id}" for b in at.sidebar.button)
    assert ("POST", "/v1/chat/completions") in fake_api.requests


def test_tool_call_output_with_an_order_is_shown_as_a_card(open_page) -> None:
    at = open_page("chat").run()
    at.chat_input[0].set_value("Where is my order #W2378156?").run()
    assert not at.exception and not at.error
    assert "🔧 Tool call: get_order_details" in [e.label for e in at.expander]
    assert any(f"Order {ORDER['order_id']}" in m.value for m in at.markdown)
    # reloading the stored conversation renders the same tool call, card and citation from history
    at.run()
    assert "🔧 Tool call: get_order_details" in [e.label for e in at.expander]
    assert any(f"Order {ORDER['order_id']}" in m.value for m in at.markdown)
    assert f"[1] {CITATION['title']}" in [e.label for e in at.expander]


def test_new_conversation_button_creates_and_selects_one(open_page, fake_api) -> None:
    at = open_page("chat").run()
    at.sidebar.button[0].click().run()
    (conversation_id,) = fake_api.conversations
    assert at.session_state["conversation_id"] == conversation_id


def test_bad_api_key_is_shown_as_an_error(open_page) -> None:
    at = open_page("chat", api_key="wrong-key").run()
    assert at.error and "Invalid API key" in at.error[0].value
    assert "401" in at.error[0].value


def test_model_failure_is_shown_as_an_error(open_page, fake_api) -> None:
    at = open_page("chat").run()
    fake_api.broken_chat = True
    at.chat_input[0].set_value("hello").run()
    assert not at.exception
    assert "model endpoint unavailable" in at.error[0].value


def test_failure_in_the_middle_of_a_stream_is_shown_as_an_error(open_page, fake_api) -> None:
    at = open_page("chat").run()
    fake_api.broken_stream = True
    at.chat_input[0].set_value("hello").run()
    assert not at.exception
    assert "504" in at.error[0].value and "model timed out" in at.error[0].value


def test_unreachable_api_is_shown_as_an_error(open_page) -> None:
    at = open_page("chat", url="http://127.0.0.1:9").run()
    assert at.error and "unreachable" in at.error[0].value


def test_deep_link_opens_a_stored_conversation(open_page, fake_api) -> None:
    conv = fake_api.add_conversation("kb_assistant", "Linked")
    fake_api.add_message(conv["id"], "user", "Is this linked?")
    at = open_page("chat")
    at.query_params["app"] = "kb_assistant"
    at.query_params["conversation"] = conv["id"]
    at.run()
    assert not at.exception and not at.error
    assert at.sidebar.selectbox[0].value == "kb_assistant"
    assert any("Is this linked?" in m.value for m in at.markdown)


def test_a_citation_highlights_the_sentences_the_answer_rests_on() -> None:
    from ui.widgets import highlighted_quote

    cite = {"start_char": 100, "quote": "Returns policy. Items can be returned within 30 days [max]. Gift cards cannot.",
            "sentences": [{"start_char": 116, "end_char": 159, "text": "Items can be returned within 30 days [max]."},
                          {"start_char": 900, "end_char": 920, "text": "A sentence further on."}]}
    text = highlighted_quote(cite)
    assert text.startswith("> Returns policy. :orange-background[Items can be returned within 30 days \\[max\\].]")
    assert text.endswith("> … :orange-background[A sentence further on.]")
    assert highlighted_quote({"quote": "plain", "sentences": []}) == "> plain"


def test_the_knowledge_base_picker_sends_the_chosen_one(open_page, fake_api) -> None:
    fake_api.add_document("manuals", "pump-manual.pdf", status="indexed")
    fake_api.add_document("default", "faq.md", status="indexed")  # the knowledge assistant's own: not offered here
    at = open_page("chat").run()
    picker = next(s for s in at.sidebar.selectbox if s.label == "Knowledge base")
    assert picker.options == ["retail_policy (the app's)", "manuals"]
    at.chat_input[0].set_value("What is the return window?").run()
    assert "knowledge_base" not in fake_api.chat_bodies[-1]  # the app's own: the server's default
    picker.set_value("manuals").run()
    at.chat_input[0].set_value("How do I bleed the pump?").run()
    assert not at.exception and not at.error
    assert fake_api.chat_bodies[-1]["knowledge_base"] == "manuals"
    assert "knowledge base `manuals`" in at.caption[0].value
