"""The evaluator on a tiny hand-made IOB set: conlleval chunks, exact matching, per-corpus type filters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apps.medical_ner import eval_cli
from apps.medical_ner.evaluate import evaluate_corpora, score_spans
from apps.medical_ner.iob import Span, read_corpora, read_iob, spans_from_tags
from apps.medical_ner.train import partial_label_loss, word_tags
from apps.medical_ner.labels import TAG_INDEX, allowed_tags

BC5CDR = "Aspirin\tB-Chemical\ninduced\tO\nacute\tB-Disease\nrenal\tI-Disease\nfailure\tI-Disease\n.\tO\n\nNo\tO\nasthma\tB-Disease\n\n"
NCBI = "Familial\tB-Disease\ncancer\tI-Disease\nand\tO\ncisplatin\tO\n.\tO\n\n"


@pytest.fixture()
def corpora_dir(tmp_path: Path) -> Path:
    for folder, text in {"BC5CDR-IOB": BC5CDR, "NCBI-disease-IOB": NCBI, "BC5CDR-chem-IOB": BC5CDR, "BC2GM-IOB": "a\tO\n\n"}.items():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "devel.tsv").write_text(text, encoding="utf-8")
    return tmp_path


def test_gold_spans_are_character_spans_of_the_joined_tokens(corpora_dir: Path) -> None:
    first = read_iob(corpora_dir / "BC5CDR-IOB" / "devel.tsv")[0]
    assert first.text == "Aspirin induced acute renal failure ."
    assert [(first.text[s.start : s.end], s.label) for s in first.spans()] == [("Aspirin", "treatment"), ("acute renal failure", "problem")]


def test_conlleval_chunk_rules() -> None:
    offsets = [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert spans_from_tags(["I-problem", "I-problem", "O", "I-treatment"], offsets) == [Span(0, 3, "problem"), Span(6, 7, "treatment")]
    assert spans_from_tags(["B-problem", "I-treatment", "B-problem", "I-problem"], offsets) == [
        Span(0, 1, "problem"), Span(2, 3, "treatment"), Span(4, 7, "problem")]


def test_scores_are_exact_match_with_type_filter(corpora_dir: Path) -> None:
    corpora = read_corpora(corpora_dir, "devel")
    assert set(corpora) == {"BC5CDR", "NCBI-disease", "BC5CDR-chem"}

    def predict(texts):
        out = []
        for text in texts:
            spans = []
            if "Aspirin" in text:
                spans = [Span(0, 7, "treatment"), Span(16, 27, "problem")]  # "acute renal": boundary wrong
            elif "asthma" in text:
                spans = [Span(3, 9, "problem")]
            elif "cisplatin" in text:
                spans = [Span(0, 15, "problem"), Span(20, 29, "treatment")]  # cisplatin: NCBI does not score treatments
            out.append(spans)
        return out

    scores, _ = evaluate_corpora(corpora, predict)
    assert scores["BC5CDR"].as_dict() == {"precision": 0.6667, "recall": 0.6667, "f1": 0.6667, "num_gold": 3, "num_pred": 3}
    assert (scores["NCBI-disease"].num_pred, scores["NCBI-disease"].f1) == (1, 1.0)
    assert (scores["BC5CDR-chem"].num_gold, scores["BC5CDR-chem"].num_pred, scores["BC5CDR-chem"].f1) == (1, 1, 1.0)
    assert score_spans([[]], [[]]).f1 == 0.0


def test_eval_command_prints_the_json_line_last(corpora_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert eval_cli.main(["--data", str(corpora_dir), "--split", "devel"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out.strip().splitlines()[-1])
    assert report["split"] == "devel" and set(report["corpora"]) == {"BC5CDR", "NCBI-disease", "BC5CDR-chem"}
    assert set(report["corpora"]["BC5CDR"]) == {"precision", "recall", "f1", "num_gold", "num_pred"}
    assert report["sentences_per_s"] > 0 and "skipping BC2GM-IOB" in captured.err
    assert report["corpora"]["BC5CDR"]["num_gold"] == 3


def test_malformed_iob_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("fever\tB-Disease\nrash B-Disease\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.tsv:2"):
        read_iob(path)
    path.write_text("fever\tB-Gene\n", encoding="utf-8")
    with pytest.raises(ValueError, match="B-Gene"):
        read_iob(path)


def test_training_labels_words_inside_tokens_and_allows_unannotated_types(corpora_dir: Path) -> None:
    sentence = read_iob(corpora_dir / "NCBI-disease-IOB" / "devel.tsv")[0]
    # "Familial" "cancer" "and" "cisplatin" "." -> one tokenizer word each, except none here split
    starts = [s for s, _ in sentence.token_offsets()]
    assert word_tags(sentence, starts) == ["B-problem", "I-problem", "O", "O", "O"]
    assert word_tags(sentence, [0, 4]) == ["B-problem", "I-problem"], "a second word inside a token continues it"
    ncbi = frozenset({"problem"})
    assert set(allowed_tags("O", ncbi)) == {TAG_INDEX["O"], TAG_INDEX["B-treatment"], TAG_INDEX["I-treatment"]}
    import torch

    logits = torch.tensor([[5.0, 0.0, 0.0, 5.0, 0.0]])
    both = torch.tensor([[True, False, False, True, True]])
    only_o = torch.tensor([[True, False, False, False, False]])
    assert float(partial_label_loss(logits, both)) < float(partial_label_loss(logits, only_o))
