from __future__ import annotations

from chat.tests.upstreams import fake_openai  # noqa: F401
from config.tests import processes

# A DATA_DIR migrated once per module that binds this name (processes.migrated_template).
migrated_template = processes.migrated_template
