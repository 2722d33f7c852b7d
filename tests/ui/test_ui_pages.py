"""Knowledge, inbox, metrics pages and the navigation shell, against a live fake API."""

from __future__ import annotations


def test_knowledge_page_lists_documents_with_status_counts(open_page, fake_api) -> None:
    fake_api.add_document("retail_policy", "policy.md", "indexed")
    fake_api.add_document("retail_policy", "faq.txt", "failed", error="could not parse")
    fake_api.add_document("retail_policy", "notes.md", "queued")
    at = open_page("knowledge").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="kb_name").value == "retail_policy"
    table = at.dataframe[0].value
    assert sorted(table["file"]) == ["faq.txt", "notes.md", "policy.md"]
    assert {row.split()[-1] for row in table["status"]} == {"indexed", "failed", "queued"}
    assert "could not parse" in list(table["error"])
    assert {m.label.split()[-1]: m.value for m in at.metric} == {"queued": "1", "indexed": "1", "failed": "1"}
    assert at.get("progress")[0].proto.value == 66  # 2 of 3 in a final state
    assert at.session_state["kb_pending"] is True  # polls while notes.md is queued


def test_knowledge_upload_and_delete(open_page, fake_api) -> None:
    at = open_page("knowledge")
    at.session_state["kb_name"] = "new_kb"  # typed as a new option (AppTest cannot type into a selectbox)
    at.run()
    assert any("No documents" in i.value for i in at.info)
    at.file_uploader[0].set_value(("hello.md", b"# Hello\nworld", "text/markdown"))
    at.button[0].click().run()  # the form's Upload button
    assert not at.exception and not at.error
    (doc,) = fake_api.documents["new_kb"].values()
    assert doc["filename"] == "hello.md"
    assert list(at.dataframe[0].value["file"]) == ["hello.md"]
    delete = next(b for b in at.button if "Delete" in b.label)
    delete.click().run()
    assert fake_api.documents["new_kb"] == {}


def test_inbox_claims_replies_and_resolves(open_page, fake_api) -> None:
    conv = fake_api.add_conversation("customer_service", "Refund dispute", state="handed_off")
    conv["summary"] = "Customer wants a refund outside the window."
    fake_api.add_message(conv["id"], "user", "I want my money back")
    at = open_page("inbox").run()
    assert not at.exception and not at.error
    assert "refund outside the window" in at.info[0].value
    next(b for b in at.button if "Claim" in b.label).click().run()
    assert conv["state"] == "claimed"
    at.chat_input[0].set_value("I can help with that.").run()
    assert (fake_api.messages[conv["id"]][-1]["author"], fake_api.messages[conv["id"]][-1]["name"]) == ("operator", "Alice Moreau")
    assert any("operator Alice Moreau" in c.value for c in at.caption)  # operators appear by name
    assert any("I can help with that." in m.value for m in at.markdown)
    next(b for b in at.button if "Resolve" in b.label).click().run()
    assert conv["state"] == "resolved"
    assert at.success  # nothing left waiting


def test_inbox_explains_when_the_api_has_no_handoff_yet(open_page, fake_api) -> None:
    fake_api.inbox_enabled = False
    at = open_page("inbox").run()
    assert not at.exception and not at.error
    assert "not available" in at.info[0].value


def test_metrics_page_shows_moesaic_series(open_page) -> None:
    at = open_page("metrics").run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert "moesaic_chat_requests_total" in list(table["series"])
    assert "moesaic_chat_requests_created" not in list(table["series"])
    assert "python_gc_objects_collected_total" not in list(table["series"])
    latency = table[table["series"] == "moesaic_chat_latency_seconds"].iloc[0]
    assert latency["count"] == 7 and abs(latency["mean"] - 0.3) < 1e-9
    cards = {m.label: m.value for m in at.metric}
    assert cards["Chat requests"] == "7" and cards["Ingestion queue"] == "2" and cards["Model errors"] == "—"
    assert cards["Mean chat latency"] == "0.30 s"
    assert cards["Answer cache hit rate"] == "—" and cards["Model time saved"] == "—"  # no cache series yet


def test_console_shell_opens_on_chat_with_connection_settings(open_page) -> None:
    at = open_page("app").run()
    assert not at.exception and not at.error
    assert at.title[0].value == "💬 Chat"
    assert at.sidebar.text_input(key="api_url").value.startswith("http://127.0.0.1:")
    at.switch_page("core_pages/knowledge.py").run()
    assert at.title[0].value == "📚 Knowledge"
