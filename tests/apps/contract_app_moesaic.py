"""``moesaic`` with contract_app as the only installed app, for tests that start real subprocesses.

Test harness, not app code (it sets a CLI hook; apps import only the public surface), so it lives
beside the app folder, not in it.

``python -m tests.apps.contract_app_moesaic worker --concurrency 1`` is ``moesaic worker``
(the same command of ``moesaic.cli``) with ``moesaic.cli.app_loader`` set to this app, as the in-process
CLI tests set it: the test app needs no entry point, and the project's own apps (and their knowledge
documents, which would be indexed by the worker) stay out of the process.
"""

from __future__ import annotations

import moesaic.cli
from tests.apps.contract_app.manifest import APP

moesaic.cli.app_loader = lambda: {APP.name: APP}

if __name__ == "__main__":
    moesaic.cli.main()
