import pytest

from moesaic.config import load_settings
from moesaic.errors import ConfigError


def test_bad_setting_fails_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOESAIC_AGENT_MAX_STEPS", "zero")
    with pytest.raises(ConfigError, match="MOESAIC_AGENT_MAX_STEPS"):
        load_settings()


def test_unset_database_url_means_sqlite_in_home(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MOESAIC_HOME", str(tmp_path))
    monkeypatch.delenv("MOESAIC_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'moesaic.db'}"
    assert settings.llm_base_url is None
