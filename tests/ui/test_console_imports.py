"""The console needs nothing of the core: no file under ui/ and no app page module imports ``moesaic``.

App page modules (every module in a ``moesaic.pages`` contribution's folder) are held to more: they
may import Streamlit, ``ui.client``, the standard library and their own folder's modules only. A
subprocess check loads the console's modules and every contribution and finds no ``moesaic`` module
loaded, which also catches an import that goes through another package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from ui.contributions import installed

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "ui"
STDLIB = frozenset(sys.stdlib_module_names)


def imported_modules(path: Path) -> set[str]:
    """Dotted names a file imports, including ``importlib.import_module("...")`` and ``__import__("...")``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.add("." * node.level + (node.module or ""))
            elif node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return names


def imports_core(names: set[str]) -> set[str]:
    return {n for n in names if n == "moesaic" or n.startswith("moesaic.")}


def page_violations(path: Path, package: str) -> set[str]:
    """Imports of an app page module outside Streamlit, ui.client, the stdlib and its own ``package``."""
    bad = set()
    for name in imported_modules(path):
        root = name.split(".")[0]
        if name.startswith(".") or root in STDLIB or root == "streamlit":
            continue
        if name == package or name.startswith(package + "."):
            continue
        if name in ("ui", "ui.client") or name.startswith("ui.client."):
            continue
        bad.add(name)
    return bad


def page_modules() -> dict[Path, str]:
    """Every .py file of every installed contribution's folder -> that contribution's package name."""
    found: dict[Path, str] = {}
    for app, contribution in installed().apps.items():
        folders = {p.path.parent for p in contribution.pages}
        folders |= {Path(sys.modules[v.__module__].__file__).parent for v in contribution.tool_views.values()}
        for folder in folders:
            package = ".".join(folder.relative_to(ROOT).parts)
            found.update({path: package for path in folder.rglob("*.py")})
    return found


def test_nothing_under_ui_imports_moesaic() -> None:
    files = list(UI.rglob("*.py"))
    assert len(files) >= 8, "the scan found too few console files; the layout changed?"
    offenders = {str(f.relative_to(ROOT)): imports_core(imported_modules(f)) for f in files}
    assert not {f: n for f, n in offenders.items() if n}


def test_app_page_modules_import_only_streamlit_the_client_and_the_stdlib() -> None:
    modules = page_modules()
    assert ROOT / "apps" / "customer_service" / "pages" / "review.py" in modules
    assert ROOT / "apps" / "customer_service" / "pages" / "cards.py" in modules
    offenders = {str(p.relative_to(ROOT)): page_violations(p, pkg) for p, pkg in modules.items()}
    assert not {p: n for p, n in offenders.items() if n}


def test_the_checks_catch_violations(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text(
        "import json\nimport streamlit as st\nfrom ui.client import connect\nfrom apps.shop.pages.cards import card\n"
        "from moesaic.api import deps\nimport ui.widgets\nimport httpx\n"
        "def later():\n    import importlib\n    return importlib.import_module('moesaic.services')\n"
    )
    assert imports_core(imported_modules(sneaky)) == {"moesaic.api", "moesaic.api.deps", "moesaic.services"}
    assert page_violations(sneaky, "apps.shop.pages") == {
        "moesaic.api", "moesaic.api.deps", "moesaic.services", "ui.widgets", "httpx"}
    hidden = tmp_path / "hidden.py"
    hidden.write_text("x = __import__('moesaic')\n")
    assert imports_core(imported_modules(hidden)) == {"moesaic"}


def test_the_console_and_every_contribution_load_without_the_core(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "import ui.client, ui.contributions, ui.widgets\n"
        "found = ui.contributions.installed()\n"
        "assert not found.problems, found.problems\n"
        "assert 'customer_service' in found.apps, sorted(found.apps)\n"
        "loaded = sorted(m for m in sys.modules if m == 'moesaic' or m.startswith('moesaic.'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
