"""``moesaic`` with medical_ner as the only installed app, for tests that start real ``moesaic worker`` processes.

Test harness (it sets a CLI hook), so it lives beside the app tests, not in the app:
``python -m tests.apps.medical_ner_moesaic worker --concurrency 1`` is ``moesaic worker`` with
``moesaic.cli.app_loader`` set to medical_ner alone (the other apps' models and documents stay out).
"""

from __future__ import annotations

import moesaic.cli
from apps.medical_ner.manifest import APP

moesaic.cli.app_loader = lambda: {APP.name: APP}

if __name__ == "__main__":
    moesaic.cli.main()
