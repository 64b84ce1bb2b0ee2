"""Text a person sends certdesk: the characters refused everywhere, and how errors echo text.

Two kinds of character are refused in every text input — API bodies, query parameters,
console form fields, CLI arguments and the text files the CLI reads — before any rule sees
them:

- NUL (U+0000): PostgreSQL cannot store it in a text column while SQLite stores it, so the
  same request would succeed on one backend and fail on the other; C libraries (OpenSSL, the
  mail client) end a string at it.
- a lone surrogate (U+D800 to U+DFFF without its pair; JSON can carry one as ``"\\udfff"``):
  it is no character at all, and no encoder writes it as UTF-8, so it would fail only when the
  answer is encoded.

An error that echoes what the caller sent shows only :func:`excerpt` of it: a short prefix,
with refused characters escaped, so that a 60 KB parameter does not come back whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from certdesk.errors import InvalidInput

__all__ = ["BAD_CHARACTERS", "EXCERPT_LENGTH", "check_text", "check_tree", "excerpt", "first_bad"]

BAD_CHARACTERS = "input.bad_characters"
EXCERPT_LENGTH = 64
_ELLIPSIS = "…"
_WHERE_LENGTH = 256


def first_bad(value: str) -> int | None:
    """The index of the first NUL or lone surrogate in ``value``, or None when it has none."""
    nul = value.find("\x00")
    if value.isascii():
        return None if nul < 0 else nul
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        # Only a surrogate fails to encode as UTF-8; Python strings hold no paired ones.
        return err.start if nul < 0 else min(nul, err.start)
    return None if nul < 0 else nul


def _name(ch: str) -> str:
    return "NUL" if ch == "\x00" else f"lone surrogate U+{ord(ch):04X}"


def check_text(value: str, where: str) -> str:
    """Return ``value`` if it holds no NUL and no lone surrogate; else raise InvalidInput.

    ``where`` names the input (``body.names.0``, ``query.org``, ``argument 2``) in the
    message and in the error's ``where`` field.
    """
    index = first_bad(value)
    if index is None:
        return value
    # ``where`` may hold the caller's own text (a JSON key, a file name): shown, but bounded.
    shown = excerpt(where, _WHERE_LENGTH)
    raise InvalidInput(
        BAD_CHARACTERS,
        f"{shown}: character {index + 1} is a {_name(value[index])}, which no text"
        " input may contain",
        where=shown,
    )


def check_tree(value: Any, where: str) -> None:
    """Apply :func:`check_text` to every string in a decoded JSON value (keys included)."""
    for path, text in _strings(value, where):
        check_text(text, path)


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    # Iterative, so that a deeply nested body cannot exhaust the interpreter's stack here.
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            yield path, item
        elif isinstance(item, dict):
            for key, child in item.items():
                key_text = str(key)
                yield path, key_text
                stack.append((f"{path}.{key_text}", child))
        elif isinstance(item, list | tuple):
            stack.extend((f"{path}.{i}", child) for i, child in enumerate(item))


def excerpt(value: str, limit: int = EXCERPT_LENGTH) -> str:
    """``value`` as an error may echo it: NUL and lone surrogates escaped, cut after ``limit``
    characters with "…"."""
    if first_bad(value) is not None:
        value = "".join(
            ch.encode("unicode_escape").decode("ascii") if first_bad(ch) is not None else ch
            for ch in value[: limit + 1]
        )
    if len(value) <= limit:
        return value
    return value[:limit] + _ELLIPSIS
