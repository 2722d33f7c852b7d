"""Outside frameworks stay in their adapter modules."""

from __future__ import annotations

import ast
from pathlib import Path

import moesaic

ALLOWED = {
    "llama_index": {"retrieval/readers.py"},
    "chromadb": {"retrieval/vector_store.py"},
}


def test_llama_index_and_chromadb_are_imported_only_by_their_adapters() -> None:
    root = Path(moesaic.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        relative = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in ALLOWED and relative not in ALLOWED[top]:
                    offenders.append(f"{relative} imports {name}")
    assert offenders == []
