from moesaic.db import Database
from moesaic.access import ensure_tenant
from moesaic.memory import ConversationStore
from moesaic.types import Message, ToolCall


def test_history_window_keeps_newest_turns_and_summarizes_the_rest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.migrate()
    tenant = ensure_tenant(db)
    store = ConversationStore(db)
    conversation = store.create(tenant, "kb_assistant")
    for turn in range(20):
        store.append(tenant, conversation.id, Message("user", f"question {turn} " + "word " * 40))
        store.append(tenant, conversation.id, Message("assistant", f"answer {turn} " + "word " * 40))
    store.append(tenant, conversation.id, Message("assistant", "", tool_calls=(ToolCall("c1", "t", "{}"),)))
    store.append(tenant, conversation.id, Message("tool", "result", tool_call_id="c1", name="t"))

    window = store.history(tenant, conversation.id, token_budget=400)
    assert window[0].role == "system" and "question 0" in window[0].content
    assert window[-1].role == "tool" and window[-2].tool_calls  # a tool result never loses its call
    kept_text = " ".join(m.content for m in window[1:])
    assert "answer 19" in kept_text and "question 0 " not in kept_text
    assert sum(len(m.content) for m in window[1:]) // 4 <= 400 + 50
    assert len(store.messages(tenant, conversation.id)) == 42  # nothing is dropped from storage
