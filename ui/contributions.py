"""What apps add to the console: pages and tool views, found through the ``moesaic.pages`` entry points.

An app registers one module under the group, named after the app (the name ``GET /v1/apps`` uses)::

    [project.entry-points."moesaic.pages"]
    customer_service = "apps.customer_service.pages"

That module declares plain data, so it needs nothing but Streamlit, ``ui.client`` and the standard
library (never ``moesaic``: the console runs without the core, and a test scans every page module):

- ``PAGES``: a sequence of ``{"path": "review.py", "title": "Case review", "icon": "🔎"}``; ``path``
  is a Streamlit script relative to the module's folder, ``icon`` is optional.
- ``TOOL_VIEWS``: a mapping of tool name to ``view(output) -> bool``. The generic chat widget calls it
  with the tool's output (JSON-decoded when it parses) inside the tool call's expander; the view draws
  it with Streamlit and returns True, or returns False to leave it to the generic JSON view.

- ``DESK_PANEL``: ``panel(conversation, client) -> None``, drawn beside a conversation of the app in the
  operator inbox (``conversation`` as ``GET /v1/inbox`` lists it, ``client`` a ``ui.client.ApiClient``): the
  customer, their records, the app's actions.

All are optional. A page script gets the API with ``connect(st.session_state)`` from ``ui.client``.

This module loads and validates contributions; it draws nothing and does not decide which apps a
key may use (``ui/app.py`` asks the API's ``GET /v1/apps``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = ["AppContribution", "ContributionError", "DeskPanel", "Discovery", "PageSpec", "ToolView", "desk_panel",
           "discover", "installed", "load_contribution", "tool_view"]

GROUP = "moesaic.pages"
PAGE_KEYS = frozenset({"path", "title", "icon"})
ToolView = Callable[[Any], bool]
DeskPanel = Callable[[Any, Any], None]  # (conversation, client) -> None


class ContributionError(ValueError):
    """An app's console contribution is malformed; the message names the app and the problem."""


@dataclass(frozen=True)
class PageSpec:
    """One console page of an app: a Streamlit script and how the navigation shows it."""

    app: str
    path: Path
    title: str
    icon: str | None = None

    @property
    def url_path(self) -> str:
        return f"{self.app}-{self.path.stem}".replace("_", "-")


@dataclass(frozen=True)
class AppContribution:
    """Everything one app adds to the console."""

    app: str
    pages: tuple[PageSpec, ...] = ()
    tool_views: Mapping[str, ToolView] = field(default_factory=lambda: MappingProxyType({}))
    desk_panel: DeskPanel | None = None


@dataclass(frozen=True)
class Discovery:
    """The installed contributions by app, and one message per entry point that could not be used."""

    apps: Mapping[str, AppContribution]
    problems: tuple[str, ...] = ()


def _page(app: str, folder: Path, raw: Any) -> PageSpec:
    if not isinstance(raw, Mapping):
        raise ContributionError(f"app {app!r}: each PAGES entry must be a mapping with keys "
                                f"{sorted(PAGE_KEYS)}, got {type(raw).__name__}")
    unknown = set(raw) - PAGE_KEYS
    if unknown:
        raise ContributionError(f"app {app!r}: unknown page keys {sorted(unknown)}; valid keys are {sorted(PAGE_KEYS)}")
    path, title, icon = raw.get("path"), raw.get("title"), raw.get("icon")
    if not isinstance(title, str) or not title.strip():
        raise ContributionError(f"app {app!r}: page {path!r} needs a non-empty 'title'")
    if icon is not None and not isinstance(icon, str):
        raise ContributionError(f"app {app!r}: page {title!r} has an 'icon' that is not a string")
    if not isinstance(path, str) or not path.endswith(".py"):
        raise ContributionError(f"app {app!r}: page {title!r} needs a 'path' to a .py script, got {path!r}")
    script = (folder / path).resolve()
    if folder.resolve() not in script.parents:
        raise ContributionError(f"app {app!r}: page {title!r} path {path!r} leaves the app's pages folder")
    if not script.is_file():
        raise ContributionError(f"app {app!r}: page {title!r} script {script} does not exist")
    return PageSpec(app=app, path=script, title=title.strip(), icon=icon)


def load_contribution(app: str, module: Any) -> AppContribution:
    """Validate a contribution module (or any object with ``__file__``, ``PAGES``, ``TOOL_VIEWS``, ``DESK_PANEL``)."""
    pages_raw = getattr(module, "PAGES", ())
    views_raw = getattr(module, "TOOL_VIEWS", {})
    pages: tuple[PageSpec, ...] = ()
    if pages_raw:
        location = getattr(module, "__file__", None)
        if not location:
            raise ContributionError(f"app {app!r}: a contribution with PAGES must be a module with a file")
        if isinstance(pages_raw, (str, Mapping)) or not isinstance(pages_raw, Iterable):
            raise ContributionError(f"app {app!r}: PAGES must be a list of page mappings")
        pages = tuple(_page(app, Path(location).parent, raw) for raw in pages_raw)
        paths = [p.path for p in pages]
        if len(set(paths)) != len(paths):
            raise ContributionError(f"app {app!r}: PAGES lists the same script twice")
    if not isinstance(views_raw, Mapping):
        raise ContributionError(f"app {app!r}: TOOL_VIEWS must map tool names to functions")
    for tool, view in views_raw.items():
        if not isinstance(tool, str) or not callable(view):
            raise ContributionError(f"app {app!r}: TOOL_VIEWS[{tool!r}] must be a function of the tool's output")
    panel = getattr(module, "DESK_PANEL", None)
    if panel is not None and not callable(panel):
        raise ContributionError(f"app {app!r}: DESK_PANEL must be a function of (conversation, client)")
    return AppContribution(app=app, pages=pages, tool_views=MappingProxyType(dict(views_raw)), desk_panel=panel)


def discover(found: Iterable[EntryPoint] | None = None) -> Discovery:
    """Load every entry point of the group (or ``found``); a broken one becomes a problem, not a crash."""
    apps: dict[str, AppContribution] = {}
    values: dict[str, str] = {}
    problems: list[str] = []
    for point in sorted(entry_points(group=GROUP) if found is None else found, key=lambda p: p.name):
        if point.name in values:  # the same distribution seen twice (an egg-info beside the install) is fine
            if point.value != values[point.name]:
                problems.append(f"app {point.name!r}: registered twice under {GROUP} ({values[point.name]!r} "
                                f"and {point.value!r}); kept the first")
            continue
        values[point.name] = point.value
        try:
            apps[point.name] = load_contribution(point.name, point.load())
        except ContributionError as exc:
            problems.append(str(exc))
        except Exception as exc:  # an app's import error must not take the console down
            problems.append(f"app {point.name!r}: console pages {point.value!r} failed to import: "
                            f"{type(exc).__name__}: {exc}")
    return Discovery(apps=MappingProxyType(apps), problems=tuple(problems))


@functools.cache
def installed() -> Discovery:
    """The installed contributions, loaded once per console process."""
    return discover()


def tool_view(app: str | None, tool: str) -> ToolView | None:
    """The view ``app`` registered for ``tool``'s output, if any."""
    contribution = installed().apps.get(app or "")
    return contribution.tool_views.get(tool) if contribution else None


def desk_panel(app: str | None) -> DeskPanel | None:
    """The panel ``app`` draws beside its conversations in the operator inbox, if any."""
    contribution = installed().apps.get(app or "")
    return contribution.desk_panel if contribution else None
