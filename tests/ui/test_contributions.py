"""Loading app contributions from the ``moesaic.pages`` entry points: validation and failures."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path
from types import SimpleNamespace

import pytest

from ui.contributions import GROUP, ContributionError, desk_panel, discover, installed, load_contribution


def _module(tmp_path: Path, **attributes: object) -> SimpleNamespace:
    (tmp_path / "page.py").write_text("import streamlit as st\nst.title('page')\n")
    return SimpleNamespace(__file__=str(tmp_path / "__init__.py"), **attributes)


def test_customer_service_contributes_its_cards_case_review_returns_form_and_desk_panel() -> None:
    contribution = installed().apps["customer_service"]
    assert [p.title for p in contribution.pages] == ["Case review", "Returns & exchanges"]
    assert desk_panel("customer_service") is contribution.desk_panel is not None and desk_panel("kb_assistant") is None
    assert contribution.pages[0].path.name == "review.py" and contribution.pages[0].url_path == "customer-service-review"
    assert {"get_order_details", "cancel_pending_order", "get_user_details"} <= set(contribution.tool_views)
    assert not installed().problems


def test_a_valid_contribution_resolves_paths_next_to_the_module(tmp_path: Path) -> None:
    views = {"lookup": lambda output: True}
    contribution = load_contribution("shop", _module(tmp_path, PAGES=[{"path": "page.py", "title": " Shop "}],
                                                     TOOL_VIEWS=views))
    (page,) = contribution.pages
    assert page.path == (tmp_path / "page.py").resolve() and page.title == "Shop" and page.icon is None
    assert contribution.tool_views["lookup"] is views["lookup"]
    assert load_contribution("views_only", SimpleNamespace(TOOL_VIEWS=views)).pages == ()
    assert load_contribution("views_only", SimpleNamespace(TOOL_VIEWS=views)).desk_panel is None


def test_a_desk_panel_must_be_a_function() -> None:
    with pytest.raises(ContributionError, match="DESK_PANEL must be a function"):
        load_contribution("shop", SimpleNamespace(DESK_PANEL="not callable"))


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        ({"PAGES": [{"path": "missing.py", "title": "Gone"}]}, "does not exist"),
        ({"PAGES": [{"path": "../page.py", "title": "Out"}]}, "leaves the app's pages folder"),
        ({"PAGES": [{"path": "page.py"}]}, "needs a non-empty 'title'"),
        ({"PAGES": [{"path": "page.py", "title": "X", "rank": 1}]}, "unknown page keys ['rank']"),
        ({"PAGES": [{"path": "page.txt", "title": "X"}]}, "needs a 'path' to a .py script"),
        ({"PAGES": ["page.py"]}, "must be a mapping"),
        ({"PAGES": {"path": "page.py", "title": "X"}}, "PAGES must be a list"),
        ({"PAGES": [{"path": "page.py", "title": "A"}, {"path": "./page.py", "title": "B"}]}, "same script twice"),
        ({"TOOL_VIEWS": {"lookup": "not a function"}}, "TOOL_VIEWS['lookup'] must be a function"),
        ({"TOOL_VIEWS": [print]}, "TOOL_VIEWS must map tool names"),
    ],
)
def test_a_malformed_contribution_names_the_app_and_the_problem(tmp_path: Path, attributes: dict, problem: str) -> None:
    with pytest.raises(ContributionError) as caught:
        load_contribution("shop", _module(tmp_path, **attributes))
    assert "app 'shop'" in str(caught.value) and problem in str(caught.value)


def test_discovery_reports_a_broken_entry_point_and_keeps_the_others() -> None:
    found = discover([
        EntryPoint("zz_broken", "no_such_module_for_moesaic_pages", GROUP),
        EntryPoint("kb_assistant", "fake_pages", GROUP),
        EntryPoint("kb_assistant", "fake_pages", GROUP),  # the same registration seen twice is not a problem
        EntryPoint("kb_assistant", "other_pages", GROUP),
    ])
    assert list(found.apps) == ["kb_assistant"] and found.apps["kb_assistant"].pages[0].title == "Hello"
    assert len(found.problems) == 2
    assert "app 'kb_assistant': registered twice" in found.problems[0]
    assert found.problems[1].startswith("app 'zz_broken': console pages 'no_such_module_for_moesaic_pages' failed to import")
