"""Finding 9 of issue 16: schemathesis over the live OpenAPI schema with an admin key: 0 server errors and 0
contract failures (undocumented status codes, bodies or headers that break the schema, valid requests
rejected, wrong ``Allow`` headers). The adversarial tier (``make test-adversarial``, marker ``adversarial``,
run by ``.ci/run``): a live server with every installed app on SQLite and the offline model, ``st run`` with
every check, a fixed seed and a time budget (``MOESAIC_SCHEMATHESIS_EXAMPLES`` per operation, default 50,
at most ``MOESAIC_SCHEMATHESIS_MAX_TIME`` seconds, default 240). ``schemathesis.toml`` holds what counts as
accepting a valid request. Revoking or rotating keys and erasing the tenant are left out: the run would
disable its own key (tests/access and tests/reliability cover them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from xml.etree import ElementTree
from pathlib import Path

import pytest

from moesaic.config import Settings
from tests.conftest import DATASETS_DIR
from tests.live import serve

pytestmark = pytest.mark.adversarial
ROOT = Path(__file__).resolve().parents[2]
SEED = 16
# Left out: routes that would end the run's own key or tenant, and the live PubMed search, whose only answer
# here is its documented 502 (the tier points PubMed at a closed port, and every 5xx counts as a server error);
# its validation and its 502 are tested in tests/apps/literature_analysis/test_search_routes.py.
LEFT_OUT = r"^/v1/(keys/\{key_id\}/(revoke|rotate)|tenant/erase|apps/literature_analysis/pubmed/search)$"


def failures_of(report_dir: Path) -> str:
    """Every failing operation with its checks and a curl to reproduce it, from the junit report (the console
    output keeps only the end, and CI shows only the end of that)."""
    lines = []
    for report in sorted(report_dir.glob("*.xml")):
        for case in ElementTree.parse(report).iter("testcase"):
            for failure in (c for c in case if c.tag in ("failure", "error")):
                text = failure.text or ""
                checks = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(("- ST", "Received:", "Documented:"))]
                curls = [ln.strip()[:400] for ln in text.splitlines() if ln.strip().startswith("curl ")]
                lines.append(f"{case.get('name')}: {' | '.join(checks)}\n    {curls[0] if curls else ''}")
    return "failing operations:\n" + "\n".join(lines) + "\n\n" if lines else ""


def test_schemathesis_finds_no_server_error_and_no_contract_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a PubMed sync that schemathesis starts must not reach out: a closed loopback port (it fails in the job)
    monkeypatch.setenv("MOESAIC_PUBMED_BASE_URL", "http://127.0.0.1:9/")
    pytest.importorskip("schemathesis", reason="pip install -r requirements-adversarial.txt (make test-adversarial)")
    from moesaic.access import create_api_key
    from moesaic.api.main import create_app
    from moesaic.services import Platform

    settings = Settings(home=tmp_path / "home", datasets_dir=DATASETS_DIR, rate_limit_per_minute=0,
                        rate_limit_chat_per_minute=0)
    platform = Platform.create(settings)  # every installed app, the offline model
    key = create_api_key(platform.db, "schemathesis", role="admin")
    examples = os.environ.get("MOESAIC_SCHEMATHESIS_EXAMPLES", "50")
    max_time = os.environ.get("MOESAIC_SCHEMATHESIS_MAX_TIME", "240")
    try:
        with serve(create_app(platform=platform)) as url:
            run = subprocess.run(
                [str(Path(sys.executable).with_name("st")), "run", f"{url}/openapi.json",
                 "-H", f"Authorization: Bearer {key}", "--checks", "all", "--seed", str(SEED), "-n", examples,
                 "--max-time", max_time, "--workers", "1", "--request-timeout", "30", "--no-shrink",
                 "--exclude-path-regex", LEFT_OUT, "--report", "junit", "--report-dir", str(tmp_path / "report")],
                cwd=ROOT, capture_output=True, text=True, timeout=int(max_time) + 120,
            )
    finally:
        platform.close()
    out = run.stdout + run.stderr
    summary = re.search(r"(\d+) generated, (?:(\d+) passed|(\d+) found (\d+) unique failures)", out)
    assert summary is not None, out[-4000:]
    assert run.returncode == 0, failures_of(tmp_path / "report") + out[-6000:]
    assert int(summary.group(1)) >= 1000, f"only {summary.group(1)} cases ran:\n{out[-3000:]}"
    assert "Server error" not in out and "ST1" not in out.split("SUMMARY")[-1]
