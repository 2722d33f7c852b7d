"""`platform/` is a source root, not a package: the standard library's `platform` must still work."""

import platform
from pathlib import Path


def test_stdlib_platform_module_is_not_shadowed() -> None:
    assert platform.system() in {"Linux", "Darwin", "Windows"}
    assert not (Path(__file__).resolve().parents[1] / "platform" / "__init__.py").exists()
