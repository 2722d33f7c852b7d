"""The search page, the contradictions view and the summary builder in Streamlit AppTest against the live API
(the shipped models, abstracts indexed in ``KB``, PubMed a fake E-utilities server): results with their
metadata, papers added from PubMed, supporting and contradicting papers side by side with their rationale
highlighted, a summary grouped by finding with its citations, directly and as a job with its progress."""

from __future__ import annotations

import httpx
from streamlit.testing.v1 import AppTest

from tests.apps.literature_analysis.conftest import KB
from tests.apps.literature_analysis.page_env import PAGES, live_api, page  # noqa: F401 (fixture)

SEARCH, SIDES, SUMMARY = PAGES / "search.py", PAGES / "contradictions.py", PAGES / "summaries.py"
SUPPORTING = "Vitamin D supplementation reduced the risk of hip fracture by 30% compared with placebo."


def ok(at: AppTest) -> None:
    assert not at.exception and not at.error, [e.value for e in at.error] or at.exception


def test_local_search_lists_papers_with_their_metadata(live_api: tuple[str, str]) -> None:
    url, key = live_api
    at = page(url, key, SEARCH).run()
    ok(at)
    at.text_input(key="local_q").set_value("vitamin D hip fracture")
    at.text_input(key="local_kb").set_value(KB)
    at.button[0].click().run()
    ok(at)
    shown = "\n".join(m.value for m in at.markdown)
    assert "Vitamin D supplementation and fracture risk in older adults" in shown
    assert any("PMID 31000001" in c.value for c in at.caption), [c.value for c in at.caption]


def test_a_search_that_matches_nothing_shows_the_api_error(live_api: tuple[str, str]) -> None:
    url, key = live_api
    at = page(url, key, SEARCH).run()
    at.text_input(key="local_q").set_value("zzzqqq")
    at.text_input(key="local_kb").set_value(KB)
    at.button[0].click().run()
    assert at.error and "zzzqqq" in at.error[0].value


def test_pubmed_search_shows_metadata_and_adds_a_checked_paper(live_api: tuple[str, str]) -> None:
    url, key = live_api
    at = page(url, key, SEARCH).run()
    at.text_input(key="pubmed_q").set_value("vitamin d")
    at.button[1].click().run()
    ok(at)
    assert any("PubMed found 2 records" in c.value for c in at.caption), [c.value for c in at.caption]
    assert any("Journal of Tests" in c.value and "PMID 32000001" in c.value for c in at.caption)
    at.checkbox(key="pick_32000001").check().run()
    at.text_input(key="pubmed_kb").set_value("added")
    at.button(key="pubmed_add").click().run()
    ok(at)
    assert at.success and "32000001" in at.success[0].value and "'added'" in at.success[0].value
    docs = httpx.get(f"{url}/v1/knowledge-bases/added/documents", headers={"Authorization": f"Bearer {key}"}).json()["data"]
    assert [d["filename"] for d in docs] == ["pubmed-32000001.md"]


def test_contradictions_side_by_side_with_highlighted_rationale(live_api: tuple[str, str]) -> None:
    url, key = live_api
    at = page(url, key, SIDES).run()
    ok(at)
    claim = "Vitamin D supplementation reduces the risk of hip fracture."
    at.text_area[0].set_value(claim)
    at.text_input(key="sides_kb").set_value(KB)
    at.text_input(key="sides_pmids").set_value("31000001, 31000002, 31000003")
    at.button[0].click().run()
    ok(at)
    expected = httpx.post(f"{url}/v1/apps/literature_analysis/contradictions", headers={"Authorization": f"Bearer {key}"}, timeout=60,
                          json={"claim": claim, "knowledge_base": KB, "pmids": ["31000001", "31000002", "31000003"]}).json()
    assert [s.value for s in at.subheader] == [f"Supporting ({len(expected['supporting'])})", f"Contradicting ({len(expected['contradicting'])})"]
    left, right = ("\n".join(m.value for m in column.markdown) for column in at.columns[:2])
    assert f":orange-background[{SUPPORTING}]" in left  # the trained selector's rationale, inside its abstract
    for side, shown in (("supporting", left), ("contradicting", right)):
        for item in expected[side]:
            assert f"PMID {item['pmid']}" in shown and all(f":orange-background[{r['text']}]" in shown for r in item["rationale"])
    assert [e.label for e in at.expander] == [f"Taking no side ({len(expected['undecided'])})"] if expected["undecided"] else not at.expander


def test_summary_of_pmids_grouped_by_finding_with_citations(live_api: tuple[str, str]) -> None:
    url, key = live_api
    at = page(url, key, SUMMARY).run()
    ok(at)
    at.radio(key="summary_source").set_value("PMIDs").run()
    at.text_area[0].set_value("Does vitamin D reduce hip fractures?")
    at.text_input(key="summary_kb").set_value(KB)
    at.text_area(key="summary_pmids").set_value("31000001\n31000002")
    at.button[0].click().run()
    ok(at)
    assert at.subheader[0].value == "Summary of 2 papers"
    shown = [m.value for m in at.markdown]
    assert "**Finding 1**" in shown and any("hip fracture" in m and "[1]" in m for m in shown)
    assert any(c.value.startswith("[1] PMID 3100000") for c in at.caption), [c.value for c in at.caption]


def test_a_summary_run_as_a_job_shows_its_progress_and_result(live_api: tuple[str, str]) -> None:
    url, key = live_api
    at = page(url, key, SUMMARY).run()
    at.radio(key="summary_source").set_value("Knowledge base search").run()
    at.text_area[0].set_value("vitamin D and fractures")
    at.text_input(key="summary_kb").set_value(KB)
    at.checkbox[0].check()
    at.button[0].click().run()
    ok(at)
    assert "succeeded · 1 of 1 steps" in [p.proto.text for p in at.get("progress")]
    assert at.subheader[0].value.startswith("Summary of ") and any("[1]" in m.value for m in at.markdown)
