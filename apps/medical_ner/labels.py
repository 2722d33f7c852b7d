"""The label scheme: i2b2 2010 types, the BIO tags the model predicts, and what each corpus annotates.

The public corpora name their types ``Disease`` and ``Chemical``; they map to ``problem`` and
``treatment``. No public corpus annotates ``test``: the offline model has no tag for it (the LLM mode
does). This module is plain data; it knows nothing of torch or files.
"""

from __future__ import annotations

LABELS: tuple[str, ...] = ("problem", "treatment", "test")
MODEL_LABELS: tuple[str, ...] = ("problem", "treatment")  # what the offline model can predict

CORPUS_TYPE_TO_LABEL: dict[str, str] = {"Disease": "problem", "Chemical": "treatment"}

# The BIO tags of the offline model, in the order of its output units.
TAGS: tuple[str, ...] = ("O",) + tuple(f"{prefix}-{label}" for label in MODEL_LABELS for prefix in ("B", "I"))
TAG_INDEX: dict[str, int] = {tag: index for index, tag in enumerate(TAGS)}

# Which of our labels each corpus annotates (keyed by the folder name without "-IOB"). A prediction of
# another label is neither right nor wrong there, so evaluation drops it, and training does not teach
# the model that such words are "O" (see ``allowed_tags``).
CORPUS_LABELS: dict[str, frozenset[str]] = {
    "NCBI-disease": frozenset({"problem"}),
    "BC5CDR": frozenset({"problem", "treatment"}),
    "BC5CDR-chem": frozenset({"treatment"}),
    "BC5CDR-disease": frozenset({"problem"}),
}


def corpus_name(folder: str) -> str:
    """``"NCBI-disease-IOB"`` -> ``"NCBI-disease"``."""
    return folder[: -len("-IOB")] if folder.endswith("-IOB") else folder


def map_corpus_tag(tag: str) -> str:
    """A corpus tag (``B-Disease``) as one of ours (``B-problem``); ``O`` stays ``O``.

    An unknown type raises ``ValueError`` naming it and the known ones."""
    if tag == "O":
        return tag
    prefix, _, kind = tag.partition("-")
    if prefix not in ("B", "I") or kind not in CORPUS_TYPE_TO_LABEL:
        raise ValueError(f"unknown IOB tag {tag!r}; expected O or B-/I- with one of {sorted(CORPUS_TYPE_TO_LABEL)}")
    return f"{prefix}-{CORPUS_TYPE_TO_LABEL[kind]}"


def allowed_tags(tag: str, annotated: frozenset[str]) -> tuple[int, ...]:
    """The tag indices a word may truly have, given its gold ``tag`` in a corpus annotating ``annotated``.

    A word the corpus marks ``O`` may still be an entity of a label the corpus does not annotate
    (a drug in NCBI-disease); training maximises the probability of the whole allowed set."""
    if tag != "O":
        return (TAG_INDEX[tag],)
    unannotated = [label for label in MODEL_LABELS if label not in annotated]
    return (TAG_INDEX["O"],) + tuple(TAG_INDEX[f"{p}-{label}"] for label in unannotated for p in ("B", "I"))
