"""Password hashing (R10): argon2id, with every parameter fixed here and nowhere else.

The parameters are OWASP's argon2id baseline (Password Storage Cheat Sheet): 19 MiB of
memory, 2 passes, 1 lane — about 45 ms per hash on one core, so a stolen hash costs an attacker
the same memory per guess. They are written into every stored hash
(``$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>``, RFC 9106 / PHC string format), so raising
them later needs no migration: an older hash still verifies, and :func:`needs_rehash` tells the
login to store a new one.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

TYPE = Type.ID  # argon2id: resists both GPU cracking (argon2d) and side channels (argon2i)
TIME_COST = 2  # passes over memory
MEMORY_COST_KIB = 19 * 1024  # 19 MiB
PARALLELISM = 1  # lanes; a login server handles many logins at once, not one large one
HASH_LEN = 32  # bytes of output
SALT_LEN = 16  # bytes of random salt per hash (RFC 9106 §3.1 recommends 128 bits)

# A PasswordHasher holds only these parameters; it is immutable and safe to share.
_HASHER = PasswordHasher(
    time_cost=TIME_COST,
    memory_cost=MEMORY_COST_KIB,
    parallelism=PARALLELISM,
    hash_len=HASH_LEN,
    salt_len=SALT_LEN,
    type=TYPE,
)


def hash_password(password: str) -> str:
    """The PHC string to store; the password itself is never stored or logged."""
    return _HASHER.hash(password)


def password_matches(stored: str | None, password: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from.

    A bool, not an exception: a mismatch is an ordinary outcome the login records (R10
    lockout counts it). With no stored hash (not enrolled yet) a dummy hash is checked, so
    that the answer takes as long as for a real account and timing reveals nothing.
    """
    try:
        return _HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with other parameters than the ones above."""
    return _HASHER.check_needs_rehash(stored)


@cache
def _dummy_hash() -> str:
    return _HASHER.hash("certdesk: no account has this password")
