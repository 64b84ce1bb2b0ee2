"""Which DNS names certdesk may put in a certificate at all: rule R1 (allowed names).

This module is pure: it does no I/O and imports only the standard library, ``idna`` and
``certdesk.errors``, so every policy decision is testable in microseconds.

R1 is applied in two steps:

1. :func:`normalize` maps a name to the one form certdesk stores and signs: lower-case, each
   IDN label turned into its IDNA 2008 A-label (RFC 5891), and every syntax rule checked.
2. :func:`check_name` also requires the normalized name to be a *proper* subdomain of one
   of the configured suffixes (``ca.gov`` ...), matched on label boundaries.

R2 (which of those names an organization may obtain) is :mod:`certdesk.core.grants`, which
also holds the verdicts that combine both rules (``judge``, ``require_allowed``).

Every refusal carries its rule and a stable code (``reason`` says the rest):

- R1, whole name: ``name.empty``, ``name.whitespace`` (around or inside), ``name.url``
  (``https://...``), ``name.path`` (``/``, ``\\``, ``?``, ``#``), ``name.port``
  (``x.ca.gov:443``), ``name.ip`` (IPv4/IPv6), ``name.trailing_dot`` (refused, never
  stripped), ``name.too_long`` (over 253 characters in A-label form).
- R1, one label: ``name.empty_label``, ``name.wildcard_partial`` (``f*o``, ``**``),
  ``name.wildcard_position`` (``a.*.ca.gov``), ``name.underscore``, ``name.bad_char``,
  ``name.label_hyphen`` (leading/trailing ``-``), ``name.label_too_long`` (over 63),
  ``name.reserved_hyphens`` (``ab--c``, RFC 5891 §4.2.3.1), ``name.bad_punycode`` (an
  ``xn--`` label that is not a valid A-label), ``name.idna_invalid`` (a Unicode label
  IDNA 2008 does not allow).
- R1, suffixes: ``name.outside_suffixes``, ``name.lookalike`` (``evilca.gov``,
  ``ca.gov.example.com``), ``name.bare_suffix`` (``ca.gov`` itself),
  ``name.wildcard_on_suffix`` (``*.ca.gov``).
- R1, the whole certificate: ``name.too_many`` (more names than ``max_names``).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from collections.abc import Sequence

import idna

from certdesk.errors import InvalidInput, PolicyRefusal

__all__ = [
    "DEFAULT_SUFFIXES",
    "MAX_NAMES_CEILING",
    "MAX_NAMES_PER_CERT",
    "WILDCARD",
    "check_name",
    "check_name_count",
    "normalize",
    "shown",
    "suffix_for",
]

DEFAULT_SUFFIXES: tuple[str, ...] = ("ca.gov", "california.gov", "cahwnet.gov", "state.ca.us")
# R1: how many names one certificate may carry (``CERTDESK_MAX_NAMES_PER_CERT``), and the most
# that setting may allow: a certificate of a thousand names is 17 KB that every TLS handshake
# carries, and a larger list is no longer one service's certificate.
MAX_NAMES_PER_CERT = 100
MAX_NAMES_CEILING = 1000

# RFC 1035 §2.3.4 as applied by CA/B Forum BR §7.1.4.2: 63 octets per label and 253
# characters for the presentation form of a name without its trailing dot.
MAX_LABEL_LENGTH = 63
MAX_NAME_LENGTH = 253
# Work on hostile input is bounded before any IDNA processing; anything longer than this
# cannot normalize to 253 characters or fewer anyway.
_MAX_INPUT_LENGTH = 4 * MAX_NAME_LENGTH

WILDCARD = "*"
_ACE_PREFIX = "xn--"  # RFC 5890 §2.3.2.1
_LDH = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_IPV4_CHARS = frozenset("0123456789.")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_PORT = re.compile(r":[0-9]*$")
_PATH_CHARS = ("/", "\\", "?", "#")


def shown(name: str) -> str:
    """The name as printed in a message: quoted when bare printing would hide a problem."""
    if name and name.isprintable() and not any(ch.isspace() for ch in name):
        return name
    return repr(name)


def _refuse(name: str, code: str, reason: str) -> PolicyRefusal:
    """Build an R1 refusal; ``reason`` is the bare sentence a :class:`Verdict` shows."""
    return PolicyRefusal(
        code, f"{shown(name)} is not allowed (R1): {reason}", rule="R1", name=name, reason=reason
    )


# --------------------------------------------------------------------------- R1: normalize


@functools.lru_cache(maxsize=4096)
def normalize(name: str) -> str:
    """Return the R1 normal form of ``name`` (lower-case, A-labels) or raise PolicyRefusal.

    Only the syntax is judged here; :func:`check_name` adds the suffix rules.
    A wildcard left-most label (``*.x.ca.gov``) is kept as is.

    Remembered for the last 4,096 names: a pure function of its argument, asked about the
    same few names several times by every issuance and ACME order (the CSR's names, R1, R2,
    the intent; about 0.1 ms of each). A refusal is not remembered (it is raised anew).
    """
    _check_shape(name)
    # RFC 5895 §2 mapping, the part IDNA 2008 leaves to the application: lower-case, then
    # NFC so that a decomposed "u + combining diaeresis" typed on one system and a
    # precomposed "ü" typed on another give the same A-label.
    mapped = unicodedata.normalize("NFC", name.lower())
    labels = mapped.split(".")
    out = [_normalize_label(name, label, index) for index, label in enumerate(labels)]
    normalized = ".".join(out)
    if len(normalized) > MAX_NAME_LENGTH:
        raise _refuse(
            name,
            "name.too_long",
            f"it is {len(normalized)} characters long in A-label form; "
            f"the limit is {MAX_NAME_LENGTH}",
        )
    return normalized


def _check_shape(name: str) -> None:
    """Refuse whole-name mistakes before looking at labels (R1): the things people paste."""
    if name == "":
        raise _refuse(name, "name.empty", "the name is empty")
    if name != name.strip():
        raise _refuse(name, "name.whitespace", "it has spaces around it; give the bare host name")
    if any(ch.isspace() for ch in name):
        raise _refuse(name, "name.whitespace", "it contains whitespace; a host name has none")
    if _SCHEME.match(name):
        raise _refuse(
            name,
            "name.url",
            "it is a URL; give only the host name, without the scheme (https://) or path",
        )
    if any(ch in name for ch in _PATH_CHARS):
        raise _refuse(
            name,
            "name.path",
            "it carries a path, query or fragment; give only the host name",
        )
    if _is_ip_address(name):
        raise _refuse(
            name,
            "name.ip",
            "it is an IP address; certificates are issued only for DNS names "
            "under the configured suffixes",
        )
    if ":" in name:
        if _PORT.search(name):
            raise _refuse(name, "name.port", "it carries a port (':443'); give only the host name")
        raise _refuse(name, "name.bad_char", "it contains ':'; labels may use only a-z, 0-9, '-'")
    # A CSR may not carry a trailing dot (DESIGN R1), so it is refused rather than silently
    # stripped: the caller must see that the name they typed is not the name we would sign.
    if name.endswith("."):
        raise _refuse(
            name,
            "name.trailing_dot",
            "it ends with a dot; a certificate name may not carry one, remove it",
        )
    if len(name) > _MAX_INPUT_LENGTH:
        raise _refuse(
            name,
            "name.too_long",
            f"it is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}",
        )


def _is_ip_address(name: str) -> bool:
    """True for an IPv4/IPv6 literal, bracketed or not, with or without a port."""
    host = name
    if host.startswith("[") and "]" in host:
        host = host[1 : host.index("]")]
    # Every IPv6 literal has a colon and an IPv4 literal only digits and dots, so a host name
    # is answered without a parse attempt (which fails by raising, the slow way).
    if ":" not in host and not _IPV4_CHARS.issuperset(host):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _normalize_label(name: str, label: str, index: int) -> str:
    """Check one lower-cased label and return its A-label form (R1)."""
    if label == "":
        raise _refuse(
            name,
            "name.empty_label",
            "it has an empty label (a leading dot or two dots in a row)",
        )
    if label == WILDCARD:
        if index == 0:
            return label
        raise _refuse(
            name,
            "name.wildcard_position",
            "a wildcard '*' is allowed only as the whole left-most label ('*.app.ca.gov')",
        )
    if WILDCARD in label:
        raise _refuse(
            name,
            "name.wildcard_partial",
            f"label {label!r} mixes '*' with other characters; a wildcard must be "
            "the whole left-most label ('*.app.ca.gov')",
        )
    if "_" in label:
        raise _refuse(
            name,
            "name.underscore",
            f"label {label!r} contains an underscore, which host names may not carry",
        )
    bad = [ch for ch in label if ch.isascii() and ch not in _LDH]
    if bad:
        raise _refuse(
            name,
            "name.bad_char",
            f"label {label!r} contains {bad[0]!r}; labels may use only a-z, 0-9 and '-'",
        )
    if label.startswith("-") or label.endswith("-"):
        raise _refuse(name, "name.label_hyphen", f"label {label!r} starts or ends with a hyphen")
    if label.isascii():
        return _check_ascii_label(name, label)
    return _to_alabel(name, label)


def _check_ascii_label(name: str, label: str) -> str:
    """An all-LDH label: length, then the reserved hyphen positions (RFC 5891 §4.2.3.1)."""
    _check_label_length(name, label)
    if label.startswith(_ACE_PREFIX):
        _check_alabel(name, label)
    elif label[2:4] == "--":
        raise _refuse(
            name,
            "name.reserved_hyphens",
            f"label {label!r} has hyphens in the 3rd and 4th positions, which are reserved "
            "for A-labels ('xn--') (RFC 5891 §4.2.3.1)",
        )
    return label


def _check_label_length(name: str, alabel: str) -> None:
    if len(alabel) > MAX_LABEL_LENGTH:
        raise _refuse(
            name,
            "name.label_too_long",
            f"label {alabel[:20]!r}... is {len(alabel)} characters long in A-label form; "
            f"the limit is {MAX_LABEL_LENGTH}",
        )


def _check_alabel(name: str, label: str) -> None:
    """Refuse an ``xn--`` label that is not the canonical A-label of a valid U-label.

    RFC 5891 §5.3: decode, validate the U-label under IDNA 2008, and re-encode; anything
    that does not round-trip (``xn--zz``, ``xn---bbk``) could display as another name.
    """
    why = ""
    try:
        ulabel = idna.ulabel(label)
        if ulabel.isascii():
            # "xn--abc-" decodes to plain "abc": an A-label must carry a non-ASCII character.
            why = "it decodes to plain ASCII"
        elif idna.alabel(ulabel).decode("ascii") != label:
            why = "it does not round-trip to the same A-label"
    except (idna.IDNAError, UnicodeError, ValueError) as err:
        why = str(err)
    if why:
        raise _refuse(
            name,
            "name.bad_punycode",
            f"label {label!r} is not a valid IDNA 2008 A-label (punycode): {why}",
        )


def _to_alabel(name: str, label: str) -> str:
    """Turn a Unicode label into its A-label (IDNA 2008, RFC 5891 §4) or refuse it."""
    if label[2:4] == "--":
        raise _refuse(
            name,
            "name.reserved_hyphens",
            f"label {label!r} has hyphens in the 3rd and 4th positions, which are reserved "
            "for A-labels ('xn--') (RFC 5891 §4.2.3.1)",
        )
    try:
        idna.check_label(label)
    except (idna.IDNAError, UnicodeError, ValueError) as err:
        raise _refuse(
            name,
            "name.idna_invalid",
            f"label {label!r} is not allowed by IDNA 2008: {err}",
        ) from None
    alabel = _ACE_PREFIX + label.encode("punycode").decode("ascii")
    _check_label_length(name, alabel)
    return alabel


# --------------------------------------------------------------------------- R1: suffixes


def _labels(name: str) -> tuple[str, ...]:
    return tuple(name.split("."))


def _normalize_suffixes(suffixes: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """The configured suffixes as label tuples, longest first.

    A suffix that does not normalize is a configuration mistake, not a refused name, so it
    raises InvalidInput with its own code instead of a PolicyRefusal.
    """
    if isinstance(suffixes, str):
        raise TypeError("suffixes must be a sequence of names, not one string")
    return _suffix_table(tuple(suffixes))


# The table depends only on the suffixes, and every name judged (R1 in the policy, again in
# the pre-signing lint) needs it: compute it once per configuration rather than once per
# name. A pure function of an immutable key, so the memo holds no state that could go stale;
# a configuration that raises is not memoized and raises again.
@functools.lru_cache(maxsize=16)
def _suffix_table(suffixes: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    out: list[tuple[str, ...]] = []
    for suffix in suffixes:
        try:
            normalized = normalize(suffix)
        except PolicyRefusal as err:
            raise InvalidInput(
                "config.suffix_invalid", f"configured suffix {suffix!r} is invalid: {err}"
            ) from None
        if WILDCARD in normalized:
            raise InvalidInput(
                "config.suffix_invalid", f"configured suffix {suffix!r} may not be a wildcard"
            )
        out.append(_labels(normalized))
    return tuple(sorted(out, key=len, reverse=True))


def suffix_for(normalized: str, suffixes: Sequence[str]) -> str:
    """Return the configured suffix ``normalized`` is a proper subdomain of, or refuse (R1)."""
    labels = _labels(normalized)
    table = _normalize_suffixes(suffixes)
    shown = ", ".join(suffixes) or "(none configured)"
    for suffix in table:
        if labels == suffix:
            raise _refuse(
                normalized,
                "name.bare_suffix",
                f"{'.'.join(suffix)} is a configured suffix itself; only names below it "
                "(proper subdomains) may be certified",
            )
        if labels[0] == WILDCARD and labels[1:] == suffix:
            raise _refuse(
                normalized,
                "name.wildcard_on_suffix",
                f"a wildcard directly on the suffix {'.'.join(suffix)} would cover every "
                "agency; wildcards are allowed only below an agency's own domain",
            )
    for suffix in table:
        if labels[-len(suffix) :] == suffix:
            return ".".join(suffix)
    # Not under a suffix. Say "look-alike" when the suffix text is there but not where it
    # counts, because that is how phishing names are built and the operator should know.
    for suffix in table:
        text = ".".join(suffix)
        if normalized.endswith(text):
            raise _refuse(
                normalized,
                "name.lookalike",
                f"it ends in {text!r} but not on a label boundary, so it is not under "
                f"{text}; it is a look-alike",
            )
        if _contains_run(labels, suffix):
            raise _refuse(
                normalized,
                "name.lookalike",
                f"it contains {text!r} but does not end with it, so it is not under {text}; "
                "it is a look-alike",
            )
    raise _refuse(
        normalized,
        "name.outside_suffixes",
        f"it is not under any configured suffix ({shown})",
    )


def _contains_run(labels: tuple[str, ...], run: tuple[str, ...]) -> bool:
    n = len(run)
    return any(labels[i : i + n] == run for i in range(len(labels) - n + 1))


def check_name(name: str, suffixes: Sequence[str] = DEFAULT_SUFFIXES) -> str:
    """Apply all of R1 and return the normalized name, or raise PolicyRefusal(rule="R1")."""
    normalized = normalize(name)
    try:
        suffix_for(normalized, suffixes)
    except PolicyRefusal as err:
        # The suffix checks see only the normalized form; report the name as it was given.
        reason = str(err.extra.get("reason", err.detail))
        raise _refuse(name, err.code, reason) from None
    return normalized


def check_name_count(names: Sequence[str], max_names: int) -> None:
    """R1: one certificate names at most ``max_names`` distinct names; else PolicyRefusal.

    Counted as given, before any name is judged, so that a CSR or list of a thousand names
    costs no more than the count. The limit is ``CERTDESK_MAX_NAMES_PER_CERT``; every path to a
    certificate (CSR check, direct issuance, submittals, renewals) asks here.
    """
    count = len(dict.fromkeys(names))
    if count > max_names:
        raise PolicyRefusal(
            "name.too_many",
            f"{count} names were given; a certificate names at most {max_names}",
            rule="R1",
            count=count,
            limit=max_names,
        )
