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
    "sentencex": {"platform/moesaic/sentences.py"},
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
            if path.name.startswith("test_") or path.name == "conftest.py":
                continue  # tests drive the platform from outside
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


# ---------------------------------------------------------------- layering of the core, apps and the UI

# The core's packages in layers: a module may import its own package and lower layers only.
# (``moesaic/__init__`` is a lazy facade over all of them; ``engine`` is a service of its own.)
LAYERS = [
    {"errors", "types", "identity", "json_numbers", "heap"},
    {"config", "db", "metrics", "privacy", "sentences"},
    {"tools", "memory", "jobs", "models"},
    {"llm", "retrieval", "access", "answers"},
    {"apps"},  # the app contract
    {"agent", "lifecycle"},
    {"services"},
    {"api", "quick_evals", "migrations"},
    {"cli"},
]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}
# What an app may import from the core: the top level and these packages, through their __init__ only.
APP_SURFACE = {
    "moesaic", "moesaic.apps", "moesaic.tools", "moesaic.llm", "moesaic.retrieval", "moesaic.db",
    "moesaic.memory", "moesaic.agent", "moesaic.access", "moesaic.jobs", "moesaic.config", "moesaic.errors",
    "moesaic.types", "moesaic.identity", "moesaic.llm.fake",  # identity policy; scripted models for dry-run evals
}
APP_FOLDERS = ["apps", "tests/apps/contract_app"]


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def layering_offences(path: Path, package: str) -> list[str]:
    offences = []
    for module in imported_modules(path):
        parts = module.split(".")
        if parts[0] in ("apps", "connectors", "ui"):
            offences.append(f"imports {module} (the core names no app, connector or UI)")
        elif parts[0] == "moesaic" and len(parts) > 1 and parts[1] != package:
            target = parts[1]
            if target in RANK and package in RANK and RANK[target] > RANK[package]:
                offences.append(f"imports {module} from a higher layer")
    return offences


def test_the_core_imports_only_downwards() -> None:
    core = ROOT / "platform" / "moesaic"
    offenders = []
    for path in core.rglob("*.py"):
        parts = path.relative_to(core).parts
        package = parts[0].removesuffix(".py")
        if package in ("__init__", "engine"):
            continue
        assert package in RANK, f"{package} has no layer: add it to LAYERS"
        offenders += [f"{path.relative_to(ROOT)} {o}" for o in layering_offences(path, package)]
    assert not offenders, "\n".join(offenders)


def test_layering_check_catches_the_old_wrong_way_imports(tmp_path: Path) -> None:
    for source, package in [
        ("from moesaic.apps import OfflineBehaviour", "llm"),
        ("from moesaic.llm.base import estimate_tokens", "memory"),
        ("from apps.customer_service.replay import main", "cli"),
    ]:
        module = tmp_path / "m.py"
        module.write_text(source + "\n")
        assert layering_offences(module, package), source


def app_surface_offences(path: Path) -> list[str]:
    return [f"imports {m}" for m in imported_modules(path)
            if m.split(".")[0] == "moesaic" and m not in APP_SURFACE]


def test_apps_import_only_the_public_surface() -> None:
    offenders, scanned = [], 0
    for folder in APP_FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            if path.name.startswith("test_") or path.name == "conftest.py":
                continue  # tests drive the platform from outside
            scanned += 1
            offenders += [f"{path.relative_to(ROOT)} {o}" for o in app_surface_offences(path)]
    assert scanned > 20
    assert not offenders, "\n".join(offenders)


def test_app_surface_check_catches_internals(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from moesaic.services import Platform\nfrom moesaic.llm.base import ChatModel\nimport moesaic.api.deps\n")
    assert len(app_surface_offences(module)) == 3


def test_the_ui_imports_nothing_from_the_core() -> None:
    paths = list((ROOT / "ui").rglob("*.py"))
    assert paths
    offenders = [f"{p.relative_to(ROOT)} imports {m}" for p in paths for m in imported_modules(p)
                 if m.split(".")[0] in ("moesaic", "apps", "connectors")]
    assert not offenders, "\n".join(offenders)
