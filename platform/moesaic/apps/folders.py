"""Where an app keeps files of its own (uploads, results): one folder per app and tenant under the platform's
home. Ids that become file names are checked first, so a request can never name a path outside it."""

from __future__ import annotations

import re
from pathlib import Path

SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def is_safe_id(value: str) -> bool:
    """Whether ``value`` can be a file or folder name as it is (letters, digits, ``_``, ``-``; 1-64)."""
    return bool(SAFE_ID.match(value))


def tenant_folder(home: Path, app: str, tenant_id: str) -> Path:
    """``home/app/tenant_id`` (not created); ``ValueError`` for a tenant id that is no safe folder name."""
    if not is_safe_id(tenant_id):
        raise ValueError(f"tenant id {tenant_id!r} is not safe as a folder name")
    return Path(home) / app / tenant_id
