"""An app module that fails to import (the start-up test registers it as an entry point)."""

import a_module_that_does_not_exist  # noqa: F401
