"""How settings meet the environment: each variable's name, and the one-line refusals of a
variable that is no setting or does not parse (the error names the variable and the
problem)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Set

from pydantic import ValidationError

ENV_PREFIX = "CERTDESK_"


def env_name(field: str, alias: object) -> str:
    """The environment variable of a setting."""
    return alias if isinstance(alias, str) else ENV_PREFIX + field.upper()


class SettingsError(ValueError):
    """The environment names a setting certdesk does not have (a typo never falls back)."""


def refuse_unknown(environ: Mapping[str, str], known: Set[str]) -> None:
    """Refuse ``CERTDESK_*`` variables not in ``known``, naming the nearest real one.

    A misspelled ``CERTDESK_DATABSE_URL`` would otherwise be ignored and the SQLite default
    used without a word.
    """
    unknown = sorted(
        k for k in environ if k.upper().startswith(ENV_PREFIX) and k.upper() not in known
    )
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.8)
        hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
    noun = "setting" if len(unknown) == 1 else "settings"
    raise SettingsError(
        f"unknown {noun} {', '.join(hints)}; the settings are listed in README.md (Configuration)"
    )


def bad_setting(exc: ValidationError) -> str:
    """One line for settings that do not parse: the first variable and its problem
    (``bad setting CERTDESK_WINDOW_DAYS: Input should be a valid integer, …``)."""
    first = exc.errors()[0]
    where = "_".join(str(p) for p in first.get("loc", ())).upper()
    message = str(first.get("msg", "")).removeprefix("Value error, ")
    name = where if where.startswith(ENV_PREFIX) else f"{ENV_PREFIX}{where}"
    return f"bad setting {name}: {message}" if where else message
