"""medical_ner's console page in Streamlit AppTest against the live API (uvicorn over the platform with the
app, the loaded model, a scripted fake chat model and the embedded job queue): a pasted note highlighted
with a legend and a table, the mode switch, the LLM's tests, refusals, a file of notes run as a job with
its progress and downloads, and the model card. Also: the contribution loads and imports no core."""

from __future__ import annotations

import html
import io
import json
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import apps.medical_ner.pages as ner_pages
import ui.contributions as contributions
from apps.medical_ner.manifest import APP
from apps.medical_ner.model import read_config
from apps.medical_ner.tagger import DEFAULT_ARTEFACT, Tagger
from moesaic.access import create_api_key
from moesaic.config import Settings
from moesaic.llm import FakeChatModel
from tests.ui.fake_moesaic_api import LiveServer
from tests.ui.test_console_imports import page_violations

ROOT = Path(__file__).resolve().parents[3]
PAGES = Path(ner_pages.__file__).parent
PAGE = PAGES / "entities.py"
MARK = re.compile(r'<mark class="entity" data-label="([a-z]+)" data-assertion="([a-z_]+)"[^>]*>([^<]*)<span')


@dataclass
class Live:
    url: str
    key: str
    fake: FakeChatModel


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tagger: Tagger) -> Iterator[Live]:
    from moesaic.api.main import create_app
    from moesaic.services import Platform

    tmp_path = tmp_path_factory.mktemp("ner-page")
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'm.db'}", datasets_dir=tmp_path / "none")
    fake = FakeChatModel()
    platform = Platform.create(settings, model=fake, apps={APP.name: APP}, start_worker=True)
    platform.app_context(APP.name).services["tagger"] = tagger
    key = create_api_key(platform.db, "clinic", name="console")
    try:
        with LiveServer(create_app(platform=platform), lifespan="on") as server:
            yield Live(server.url, key, fake)
    finally:
        platform.close()


def page(live: Live, key: str | None = None) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["api_url"] = live.url
    at.session_state["api_key"] = key or live.key
    return at


def clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def marks(at: AppTest) -> list[tuple[str, str, str]]:
    """(label, assertion, text) of every highlighted entity, in order."""
    note = next(h.value for h in at.html if 'class="medical-note"' in h.value)
    return [(label, assertion, html.unescape(text)) for label, assertion, text in MARK.findall(note)]


def test_the_contribution_loads_and_imports_no_core() -> None:
    contribution = contributions.load_contribution(APP.name, ner_pages)
    assert [(p.title, p.path, p.url_path) for p in contribution.pages] == [("Medical entities", PAGE, "medical-ner-entities")]
    assert {p.name: page_violations(p, "apps.medical_ner.pages") for p in PAGES.glob("*.py")} == {
        "__init__.py": set(), "entities.py": set(), "render.py": set()}
    probe = ("import sys, apps.medical_ner.pages, apps.medical_ner.pages.render; "
             "loaded = [m for m in sys.modules if m.split('.')[0] == 'moesaic']; assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True)


def test_a_pasted_note_is_highlighted_with_a_legend_and_a_table(live: Live) -> None:
    at = page(live).run()
    clean(at)
    assert at.title[0].value == "🩺 Medical entities"
    assert any("does **not** find `test` entities" in c.value for c in at.caption)  # the model mode says so
    note = "Denies chest pain.\r\nOn metformin  for type 2 diabetes. Mother had breast cancer. Möglich: fever?"
    at.text_area(key="medical_ner_note").set_value(note)
    at.button(key="medical_ner_extract").click().run()
    clean(at)
    found = marks(at)
    assert ("problem", "absent", "chest pain") in found
    assert ("treatment", "present", "metformin") in found
    assert ("problem", "present", "type 2 diabetes") in found
    assert ("problem", "associated_with_someone_else", "breast cancer") in found
    legend = next(h.value for h in at.html if 'class="legend"' in h.value)
    assert all(f'data-label="{label}"' in legend for label in ("problem", "treatment", "test")) and "someone else" in legend
    table = at.dataframe[0].value
    assert list(table.columns) == ["start", "end", "text", "label", "assertion", "score", "source"]
    assert len(table) == len(found) and set(table["source"]) == {"model"}
    assert all(note[int(r.start) : int(r.end)] == r.text for r in table.itertuples())  # offsets exact on the page too
    assert "test" not in set(table["label"])


def test_the_llm_mode_finds_tests_and_the_label_filter_applies(live: Live) -> None:
    note = "Chest X-ray showed no pneumonia. Troponin was normal."
    live.fake.add(json.dumps({"entities": [
        {"text": "chest x-ray", "label": "test"}, {"text": "pneumonia", "label": "problem", "assertion": "absent"},
        {"text": "Troponin", "label": "test"}, {"text": "unicorn pox", "label": "problem"}]}))
    at = page(live).run()
    at.text_area(key="medical_ner_note").set_value(note)
    at.radio(key="medical_ner_mode").set_value("llm").run()
    assert any("problems, treatments **and tests**" in c.value for c in at.caption)
    at.multiselect(key="medical_ner_labels").set_value(["test", "problem"])
    at.button(key="medical_ner_extract").click().run()
    clean(at)
    assert marks(at) == [("test", "present", "Chest X-ray"), ("problem", "absent", "pneumonia"), ("test", "present", "Troponin")]
    assert set(at.dataframe[0].value["source"]) == {"llm"}
    assert any("1 LLM entities could not be aligned" in c.value for c in at.caption)


def test_bad_input_shows_the_apis_message_naming_the_field(live: Live) -> None:
    at = page(live).run()
    at.text_area(key="medical_ner_note").set_value("   ")
    at.button(key="medical_ner_extract").click().run()
    assert not at.exception
    assert "text is empty" in at.error[0].value
    assert not [h for h in at.html if 'class="medical-note"' in h.value]


def test_a_bad_key_is_refused(live: Live) -> None:
    at = page(live, "msk-not-a-key").run()
    assert not at.exception
    assert "401" in at.error[0].value


def test_a_file_of_notes_runs_as_a_job_with_progress_and_downloads(live: Live) -> None:
    notes = [{"id": f"note-{i}", "text": f"Patient {i} denies asthma.\r\nStarted on aspirin."} for i in range(40)]
    data = "".join(json.dumps(n) + "\n" for n in notes).encode()
    at = page(live).run()
    assert at.button(key="medical_ner_start").disabled  # nothing to send yet
    at.file_uploader(key="medical_ner_file").set_value(("notes.jsonl", data, "application/jsonl")).run()
    at.button(key="medical_ner_start").click().run()
    clean(at)
    job_id = at.session_state["medical_ner_job"]
    deadline = time.monotonic() + 60
    while not at.get("download_button") and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
    clean(at)
    progress = at.get("progress")[0]
    assert progress.proto.value == 100 and f"Job {job_id}: succeeded · 40 of 40 notes" in progress.proto.text
    buttons = at.get("download_button")
    assert [b.proto.label for b in buttons] == ["Download JSONL", "Download BRAT (zip)"]
    preview = at.dataframe[0].value
    assert list(preview["id"]) == [f"note-{i}" for i in range(20)]
    assert "asthma (problem, absent)" in preview["found"][0] and "aspirin (treatment, present)" in preview["found"][0]
    saved = at.session_state["medical_ner_downloads"]
    assert [json.loads(line)["id"] for line in saved["jsonl"].decode().splitlines()] == [n["id"] for n in notes]
    assert len(zipfile.ZipFile(io.BytesIO(saved["brat"])).namelist()) == 80


def test_a_non_utf8_file_is_refused_with_the_apis_message(live: Live) -> None:
    at = page(live).run()
    at.file_uploader(key="medical_ner_file").set_value(("notes.txt", "fi\xe8vre".encode("latin-1"), "text/plain")).run()
    at.button(key="medical_ner_start").click().run()
    assert not at.exception
    assert "file is not UTF-8" in at.error[0].value
    assert "medical_ner_job" not in at.session_state


def test_the_model_card_shows_training_data_scores_and_limits(live: Live) -> None:
    at = page(live).run()
    clean(at)
    devel = read_config(DEFAULT_ARTEFACT).extra["devel"]
    assert {m.label: m.value for m in at.metric} == {corpus: f"{s['f1']:.3f}" for corpus, s in devel.items()}
    texts = "\n".join(m.value for m in at.markdown)
    assert "trained on NCBI-disease, BC5CDR" in texts and "**no `test`**" in texts
    assert "## Limits" in texts and "## Data" in texts  # the full card, in its expander


def test_the_console_lists_the_page_for_a_key_that_may_use_the_app(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    found = contributions.discover([EntryPoint(APP.name, "apps.medical_ner.pages", contributions.GROUP)])
    monkeypatch.setattr(contributions, "installed", lambda: found)
    at = AppTest.from_file(str(ROOT / "ui" / "app.py"), default_timeout=60)
    at.session_state["api_url"] = live.url
    at.session_state["api_key"] = live.key
    at.run()
    assert not at.exception
    at.switch_page(str(Path("..") / PAGE.relative_to(ROOT))).run()
    assert not at.exception and at.title[0].value == "🩺 Medical entities"
