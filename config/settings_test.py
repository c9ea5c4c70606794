"""Settings for the test suite: config.settings on a throwaway DATA_DIR.

pytest-django imports the settings before any conftest.py runs, so the temporary
DATA_DIR has to be chosen here, before config.settings reads it; otherwise the suite
would write ./data/secret_key, ./data/encryption.key and ./data/logs of the live
instance. Child processes the tests start (config/tests/processes.py) get
config.settings and a DATA_DIR of their own.
"""

from __future__ import annotations

import os
import tempfile

os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="switchboard-test-")
os.environ.setdefault("LOG_FORMAT", "json")
# A developer's .env must not seed providers into the test database (read_env does not
# overwrite what is already set, empty included).
os.environ["OPENROUTER_API_KEY"] = ""

from config.settings import *  # noqa: E402, F403
