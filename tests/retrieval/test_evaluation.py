from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from moesaic.errors import UserError
from moesaic.retrieval import KnowledgeService
from moesaic.retrieval.commands import evaluate_beir, ingest_paths, print_eval
from moesaic.retrieval.evaluation import mrr_at_k, ndcg_at_k, read_qrels, recall_at_k


def test_metrics_match_hand_computed_values() -> None:
    relevant = {"a": 1, "b": 2}
    assert ndcg_at_k(["b", "a"], relevant) == pytest.approx(1.0)
    expected = (1 / math.log2(3) + 3 / math.log2(4)) / (3 + 1 / math.log2(3))
    assert ndcg_at_k(["x", "a", "b"], relevant) == pytest.approx(expected)
    assert recall_at_k(["x", "a"], relevant, 10) == 0.5
    assert mrr_at_k(["x", "y", "b"], relevant) == pytest.approx(1 / 3)
    assert mrr_at_k(["x"] * 10 + ["a"], relevant) == 0.0


def write_beir(root: Path) -> Path:
    docs = {
        "d1": ("Aspirin", "Aspirin reduces the risk of heart attack in adults."),
        "d2": ("Vitamin D", "Vitamin D supplements improve bone density in older women."),
        "d3": ("Sleep", "Short sleep duration is associated with obesity in children."),
        "d4": ("Coffee", "Coffee consumption lowers the risk of type 2 diabetes."),
    }
    queries = {"q1": "Does aspirin prevent heart attacks?", "q2": "sleep and childhood obesity", "q3": "unused"}
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": k, "title": t, "text": x}) for k, (t, x) in docs.items()))
    (root / "queries.jsonl").write_text("\n".join(json.dumps({"_id": k, "text": v}) for k, v in queries.items()))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n")
    return root


def test_evaluate_beir_scores_every_mode(service: KnowledgeService, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    beir = write_beir(tmp_path / "beir")
    results = evaluate_beir(beir, "test", ["hybrid", "keyword"], service=service, progress=False)
    assert [r["mode"] for r in results] == ["hybrid", "keyword"]
    for result in results:
        assert result["queries"] == 2 and result["documents"] == 4 and result["failed"] == 0
        assert result["ndcg@10"] == pytest.approx(1.0) and result["recall@100"] == 1.0
    print_eval(results)
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["mode"] == "hybrid" and last["queries"] == 2 and set(last["by_mode"]) == {"hybrid", "keyword"}
    with pytest.raises(UserError, match="found: test"):
        read_qrels(beir, "dev")


def test_ingest_paths_walks_folders_and_reports_counts(service: KnowledgeService, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# Hours\n\nWe open at nine.")
    (folder / "sub" / "b.txt").write_text("Parking is free on Sundays.")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 nope")
    (folder / "skip.exe").write_bytes(b"MZ")
    infos = ingest_paths(service, "acme", "kb", [folder], progress=False)
    assert sorted((i.filename, i.status) for i in infos) == [
        ("a.md", "indexed"), ("b.txt", "indexed"), ("broken.pdf", "failed")
    ]
    out = capsys.readouterr().out
    assert "3 files" in out and "1 failed" in out and "2 indexed" in out and "broken.pdf" in out
