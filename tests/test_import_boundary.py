"""Frameworks stay at the edges: each may be imported only by its adapter modules."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    "langchain": set(),  # only tests use LangChain, as a client of our API
    "langchain_core": set(),
    "langchain_openai": set(),
    "llama_index": {"platform/moesaic/retrieval/readers.py", "platform/moesaic/retrieval/chunking.py"},
    "chromadb": {"platform/moesaic/retrieval/vector_store.py"},
    "huey": {"platform/moesaic/jobs/broker.py", "platform/moesaic/jobs/worker.py"},
}
SCANNED = ["platform/moesaic", "apps", "connectors"]


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_frameworks_are_imported_only_by_their_adapters() -> None:
    offenders = []
    scanned = 0
    for folder in SCANNED:
        for path in (ROOT / folder).rglob("*.py"):
            scanned += 1
            relative = path.relative_to(ROOT).as_posix()
            for framework, allowed in ALLOWED.items():
                if framework in imported_roots(path) and relative not in allowed:
                    offenders.append(f"{relative} imports {framework}")
    assert scanned > 20, "the scan found too few files; the layout changed?"
    assert not offenders, "\n".join(offenders)


def test_boundary_check_catches_a_violation(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("from chromadb import PersistentClient\nimport llama_index.core\n")
    assert {"chromadb", "llama_index"} <= imported_roots(sneaky)
