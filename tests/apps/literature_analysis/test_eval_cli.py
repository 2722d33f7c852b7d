"""``moesaic eval literature_analysis`` on a small SciFact-shaped folder, a PubMedQA file and a BEIR folder
we write here: the last line is one JSON object with the official metric names; train claims are
restricted to the held-out part; questions the classifier trained on are skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import moesaic.cli
from apps.literature_analysis.data import heldout_ids
from apps.literature_analysis.manifest import APP
from apps.literature_analysis.models import ARTEFACT_DIR

SCIFACT_KEYS = {"abstract_label_only_f1", "abstract_rationalized_f1", "sentence_selection_f1", "sentence_selection_label_f1", "retrieval_ndcg@10"}


def _scifact(folder: Path, split: str, claim_ids: list[int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    docs = [
        {"doc_id": 11, "title": "Vitamin D and fractures", "abstract": ["Fractures disable older adults.", "Vitamin D reduced hip fractures by 30%.", "Adverse events were similar."]},
        {"doc_id": 12, "title": "Coffee and sleep", "abstract": ["Students drink coffee.", "More coffee meant shorter sleep."]},
        {"doc_id": 13, "title": "Statins and muscle pain", "abstract": ["Statins lower cholesterol.", "Muscle pain was not more common with statins."]},
    ]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    texts = ["Vitamin D reduces hip fractures.", "Coffee shortens sleep in students.", "Statins cause muscle pain."]
    evidence = [{"11": [{"sentences": [1], "label": "SUPPORT"}]}, {"12": [{"sentences": [1], "label": "SUPPORT"}]},
                {"13": [{"sentences": [1], "label": "CONTRADICT"}]}]
    rows = [{"id": cid, "claim": texts[i % 3], "evidence": evidence[i % 3], "cited_doc_ids": [11 + i % 3]} for i, cid in enumerate(claim_ids)]
    (folder / f"claims_{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture()
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(moesaic.cli, "app_loader", lambda: {APP.name: APP})
    monkeypatch.setenv("MOESAIC_HOME", str(tmp_path / "home"))

    def invoke(*args: str) -> dict:  # type: ignore[type-arg]
        result = CliRunner().invoke(moesaic.cli.cli, ["eval", "literature_analysis", *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.output.strip().splitlines()[-1])  # type: ignore[no-any-return]

    return invoke


def test_scifact_open_setting_prints_the_official_metrics(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _scifact(tmp_path / "sf", "dev", [1, 2, 3])
    result = run("--scifact", str(tmp_path / "sf"), "--split", "dev")
    assert SCIFACT_KEYS <= set(result) and result["claims"] == 3 and result["scope"] == "all"
    assert result["retrieval_ndcg@10"] > 0.6  # three distinct topics: the cited abstract ranks first or second
    assert all(0.0 <= result[k] <= 1.0 for k in SCIFACT_KEYS)


def test_scifact_train_claims_are_scored_on_the_held_out_part_only(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ids = list(range(100, 130))
    _scifact(tmp_path / "sf", "train", ids)
    result = run("--scifact", str(tmp_path / "sf"), "--split", "train")
    assert result["claims"] == len(heldout_ids(ids)) == 6 and result["scope"].startswith("heldout")


def test_pubmedqa_skips_training_questions_and_prints_accuracy(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    trained = json.loads((ARTEFACT_DIR / "pubmedqa_train_ids.json").read_text())
    questions = {
        trained[0]: {"QUESTION": "Is it?", "CONTEXTS": ["It is."], "LABELS": ["RESULTS"], "final_decision": "yes"},
        "1": {"QUESTION": "Does coffee shorten sleep?", "CONTEXTS": ["More coffee meant shorter sleep."], "LABELS": ["RESULTS"],
              "final_decision": "yes", "LONG_ANSWER": "never read", "reasoning_free_pred": "no"},
        "2": {"QUESTION": "Do statins cause muscle pain?", "CONTEXTS": ["Muscle pain was not more common."], "LABELS": ["RESULTS"], "final_decision": "no"},
    }
    path = tmp_path / "pqa.json"
    path.write_text(json.dumps(questions))
    result = run("--pubmedqa", str(path))
    assert result["questions"] == 2 and result["skipped_training_questions"] == 1
    assert result["accuracy"] in (0.0, 0.5, 1.0) and 0.0 <= result["macro_f1"] <= 1.0


def test_beir_prints_ndcg(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in (
        ("11", "Vitamin D", "Vitamin D reduced hip fractures."), ("12", "Coffee", "More coffee meant shorter sleep."))))
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "5", "text": "coffee and sleep"}) + "\n")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n5\t12\t1\n")
    result = run("--beir", str(beir), "--split", "test")
    assert result["ndcg@10"] == 1.0 and result["queries"] == 1
