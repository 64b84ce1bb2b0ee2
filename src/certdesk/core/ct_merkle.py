"""Merkle tree hashes of Certificate Transparency logs (RFC 6962 §2.1, RFC 9162 §2.1).

A monitor that reads every entry of a log does not need the whole tree: the roots of the
perfect subtrees that make up the first *n* leaves (a "compact range", at most 64 hashes)
are enough to append the next leaves and to compute the Merkle Tree Hash of any longer
prefix. :class:`CompactRange` is that state; comparing its root with a signed tree head
proves that the entries read are exactly the ones the log signed, and, since the range was
itself checked against an earlier head, that the log only appended (consistency).
:func:`verify_consistency` checks a log's own consistency proof (RFC 9162 §2.1.4.2) between
the position a monitor saved and a new tree head, before any entry is read.
:func:`compact_from_inclusion` gives a monitor that starts reading in the middle of a log
(at its current head, say) the compact range it would have had after reading every entry
before: the left siblings on one leaf's audit path, proven against a signed head.

Pure: hashing only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from certdesk.errors import InvalidInput

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "compact_from_inclusion",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 6962 §2.1: MTH({}) = SHA-256()


def leaf_hash(leaf: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d): ``leaf`` is a MerkleTreeLeaf's encoding."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): an interior node (RFC 6962 §2.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


@dataclass
class CompactRange:
    """The roots of the perfect subtrees covering leaves ``[0, size)``, largest first.

    Their count is the number of one bits of ``size``; the first covers the highest power
    of two below ``size``, and so on (a binary decomposition of the size).
    """

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.size < 0 or len(self.hashes) != self.size.bit_count():
            raise InvalidInput(
                "ct.state", f"a compact range of size {self.size} has {len(self.hashes)} hashes"
            )

    def append(self, leaf_hash_: bytes) -> None:
        """Add the next leaf (its leaf hash): merge equal-sized subtrees, like a carry."""
        h = leaf_hash_
        size = self.size
        hashes = self.hashes
        while size & 1:
            h = node_hash(hashes.pop(), h)
            size >>= 1
        hashes.append(h)
        self.size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for h in leaf_hashes:
            self.append(h)

    def root(self) -> bytes:
        """MTH(D[0:size]): the subtrees folded from the right (RFC 6962 §2.1's split)."""
        if not self.hashes:
            return EMPTY_ROOT
        h = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> CompactRange:
        return CompactRange(self.size, list(self.hashes))

    def to_hex(self) -> list[str]:
        return [h.hex() for h in self.hashes]

    @classmethod
    def from_hex(cls, size: int, hashes: Sequence[str]) -> CompactRange:
        return cls(size, [bytes.fromhex(h) for h in hashes])


def _refuse(detail: str) -> InvalidInput:
    return InvalidInput("ct.inconsistent", detail)


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise unless ``proof`` shows the tree of size ``first`` (root ``first_root``) is a
    prefix of the tree of size ``second`` (root ``second_root``): RFC 9162 §2.1.4.2."""
    if first > second:
        raise _refuse(f"the log went from {first} entries back to {second}")
    if first == second:
        if proof or first_root != second_root:
            raise _refuse(f"two different roots for the same size {first}")
        return
    if first == 0:
        return  # the empty tree is a prefix of every tree; RFC 6962 has no proof for it
    path = list(proof)
    # 1. A first tree whose size is a power of two is a node of the second tree itself.
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        raise _refuse("the consistency proof is empty")
    fn, sn = first - 1, second - 1
    # 2. Skip the levels where the first tree's last node is a right child.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise _refuse("the consistency proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != first_root or sr != second_root:
        raise _refuse(
            f"the log's tree of {second} entries does not extend the {first} entries seen before"
        )


def compact_from_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> CompactRange:
    """The compact range of leaves ``[0, index + 1)``, from the audit path of leaf ``index``
    (its leaf hash ``leaf``) in the tree of ``size`` leaves whose root is ``root``.

    The path is checked as RFC 9162 §2.1.3.2 says; the nodes it combines on the left are the
    roots of the perfect subtrees covering ``[0, index)`` (one per one bit of ``index``,
    smallest first), so they and the leaf are that compact range. Raises unless the path
    leads to ``root``.
    """
    if not 0 <= index < size:
        raise _refuse(f"leaf {index} is not in a tree of {size} entries")
    fn, sn = index, size - 1
    r = leaf
    lefts: list[bytes] = []
    for p in path:
        if sn == 0:
            raise _refuse("the audit path is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            lefts.append(p)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise _refuse(f"entry {index} is not where the log's signed tree of {size} entries says")
    compact = CompactRange(index, list(reversed(lefts)))
    compact.append(leaf)
    return compact
