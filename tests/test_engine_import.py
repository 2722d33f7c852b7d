"""The engine must import on a GPU host that has torch but no web stack (no pydantic, no FastAPI)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'pydantic', 'pydantic_settings', 'fastapi', 'starlette', 'uvicorn', 'sqlalchemy'}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
from moesaic.engine import LLM, SamplingParams
import moesaic
print('ok', LLM.__name__, SamplingParams.__name__)
"""


def test_engine_imports_without_the_web_stack() -> None:
    result = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, cwd=ROOT / "platform", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok LLM SamplingParams"


def test_public_names_still_resolve() -> None:
    import moesaic

    assert moesaic.tool.__name__ == "tool" and moesaic.AppManifest.__name__ == "AppManifest"
