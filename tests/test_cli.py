"""The `moesaic` command through typer's runner, on real embedded backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moesaic.cli import cli

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MOESAIC_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MOESAIC_DATABASE_URL", raising=False)
    from moesaic.config import get_settings

    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_keys_create_prints_a_key_that_authenticates(home: Path) -> None:
    result = runner.invoke(cli, ["keys", "create", "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    key = result.output.strip()
    assert key.startswith("msk-")
    from moesaic.db import Database
    from moesaic.access import authenticate

    db = Database(f"sqlite:///{(home / 'home' / 'moesaic.db').resolve()}")
    principal = authenticate(db, key)
    assert principal.tenant_id and principal.role == "operator"

    listed = runner.invoke(cli, ["keys", "list", "--tenant", "acme"])
    assert principal.id in listed.output and key not in listed.output and "active" in listed.output
    assert runner.invoke(cli, ["keys", "revoke", principal.id, "--tenant", "acme"]).exit_code == 0
    assert "revoked" in runner.invoke(cli, ["keys", "list", "--tenant", "acme"]).output
    import pytest

    from moesaic.errors import Unauthorized

    with pytest.raises(Unauthorized):
        authenticate(db, key)


def test_keys_create_works_on_a_database_that_apps_have_migrated(home: Path) -> None:
    """The database carries customer_service's Alembic branch; the command must find its revisions."""
    from apps.customer_service.manifest import APP
    from moesaic.db import Database

    db = Database(f"sqlite:///{(home / 'home' / 'moesaic.db').resolve()}")
    db.migrate(version_locations=[APP.migrations])
    db.dispose()
    result = runner.invoke(cli, ["keys", "create", "--tenant", "acme"])
    assert result.exit_code == 0, result.output


def test_eval_retrieval_prints_metrics_and_a_json_last_line(home: Path) -> None:
    beir = home / "beir"
    (beir / "qrels").mkdir(parents=True)
    docs = {
        "d1": ("Aspirin", "Aspirin reduces the risk of heart attacks in adults."),
        "d2": ("Vitamin C", "Vitamin C does not prevent the common cold."),
        "d3": ("Sleep", "Adults need seven to nine hours of sleep each night."),
    }
    (beir / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": k, "title": t, "text": x}) for k, (t, x) in docs.items()))
    (beir / "queries.jsonl").write_text("\n".join([
        json.dumps({"_id": "q1", "text": "does aspirin prevent heart attacks"}),
        json.dumps({"_id": "q2", "text": "how many hours of sleep do adults need"}),
    ]))
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n")
    result = runner.invoke(cli, ["eval", "retrieval", "--beir", str(beir), "--split", "test", "--mode", "hybrid", "--mode", "keyword"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["mode"] == "hybrid" and summary["queries"] == 2
    assert summary["ndcg@10"] == pytest.approx(1.0)
    assert set(summary["by_mode"]) == {"hybrid", "keyword"}


def test_eval_retrieval_rejects_an_unknown_mode(home: Path, tmp_path: Path) -> None:
    (tmp_path / "b" / "qrels").mkdir(parents=True)
    (tmp_path / "b" / "corpus.jsonl").write_text("")
    (tmp_path / "b" / "queries.jsonl").write_text("")
    (tmp_path / "b" / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n")
    result = runner.invoke(cli, ["eval", "retrieval", "--beir", str(tmp_path / "b"), "--mode", "fuzzy"])
    assert result.exit_code != 0 and "fuzzy" in result.output


def test_replay_command_writes_the_expected_format(home: Path, tmp_path: Path) -> None:
    from tests.conftest import DATASETS_DIR

    tau2 = DATASETS_DIR / "tau2_retail"
    if not (tau2 / "db.json").is_file():
        pytest.skip("tau2 retail data not present")
    tasks = json.loads((tau2 / "tasks_train.json").read_text())[:2]
    (tmp_path / "tasks.json").write_text(json.dumps(tasks))
    out = tmp_path / "out.json"
    result = runner.invoke(cli, ["apps", "customer_service", "replay", "--db", str(tau2 / "db.json"),
                                 "--tasks", str(tmp_path / "tasks.json"), "--out", str(out), "--reference-compat"])
    assert result.exit_code == 0, result.output
    expected = json.loads((tau2 / "expected_train.json").read_text())
    produced = json.loads(out.read_text())
    assert len(produced) == 2
    for task_id, outcome in produced.items():
        assert outcome == expected[task_id]
