"""Settings from the environment (``CERTDESK_*``), each with a safe default (STYLE habit 11).

Settings are built once by the adapter that starts (CLI command, server, worker) and passed
down; nothing reads the environment at import time. The table of settings is in
:mod:`.settings` and :mod:`.endpoints`, the parser of each shape in :mod:`.shapes`.
"""

from certdesk.config.environment import ENV_PREFIX, SettingsError, bad_setting, env_name
from certdesk.config.settings import Settings, check_environment

__all__ = [
    "ENV_PREFIX",
    "Settings",
    "SettingsError",
    "bad_setting",
    "check_environment",
    "env_name",
]
