"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.

Hashes (RFC 9162 §2.1.1)::

    leaf = SHA-256(0x00 || entry bytes)
    node = SHA-256(0x01 || left || right)
    MTH({}) = SHA-256("")

A *perfect node* ``(level, index)`` is the root of the complete subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 is the leaf hash itself. Every range that
appears in an RFC 9162 proof is a subtree of the tree, so its hash is a right fold of at most
log2(n) perfect nodes. Stores keep the perfect nodes (about 2n hashes, as Go's sumdb ``tlog`` does),
which makes any proof O(log n) lookups: ask ``inclusion_nodes`` / ``consistency_nodes`` which nodes a
proof needs, fetch them, then build the proof with ``inclusion_proof`` / ``consistency_proof``.

``Frontier`` is the compact range ``[0, size)``: the perfect nodes of the binary decomposition of the
size. Appending a leaf is O(log n) and reports the perfect nodes it completes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]  # (level, index)
NodeLookup = Callable[[int, int], bytes]  # (level, index) -> perfect node hash


def leaf_hash(data: bytes) -> bytes:
    """The RFC 6962 leaf hash of one entry's bytes."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 interior node hash of two children."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves (reference implementation; O(n) memory)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


# --- ranges and perfect nodes ---


def range_nodes(start: int, end: int) -> list[NodeId]:
    """Perfect nodes whose right fold is MTH(D[start:end]), left to right.

    ``[start, end)`` must be a subtree of some RFC 6962 tree: ``start`` aligned to the largest power
    of two not exceeding ``end - start`` (every range inside a proof is).
    """
    if end <= start:
        raise ValueError("empty range")
    nodes: list[NodeId] = []
    pos = start
    remaining = end - start
    while remaining:
        level = remaining.bit_length() - 1
        size = 1 << level
        if pos % size:
            raise ValueError(f"range [{start}, {end}) is not a subtree")
        nodes.append((level, pos >> level))
        pos += size
        remaining -= size
    return nodes


def fold_nodes(hashes: Sequence[bytes]) -> bytes:
    """Right fold of perfect-node hashes left to right: h0 . (h1 . (h2 ...))."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def range_hash(start: int, end: int, node: NodeLookup) -> bytes:
    """MTH(D[start:end]) from perfect nodes."""
    return fold_nodes([node(level, index) for level, index in range_nodes(start, end)])


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PATH(index, D[size]) (RFC 9162 §2.1.3.1), bottom first."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    out: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index - lo < k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo = lo + k
    out.reverse()
    return out


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PROOF(first, D[second]) (RFC 9162 §2.1.4.1), bottom first.

    Empty when ``first`` is 0 or equal to ``second`` (nothing to prove).
    """
    if not 0 <= first <= second:
        raise ValueError("consistency needs 0 <= first <= second")
    if first in (0, second):
        return []
    # SUBPROOF(m, D[lo:hi], b), unrolled: siblings are collected top-down, then reversed.
    out: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, second, first, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        out.append((lo, hi))
    out.reverse()
    return out


def _nodes_of(ranges: Iterable[tuple[int, int]]) -> list[NodeId]:
    seen: dict[NodeId, None] = {}
    for start, end in ranges:
        for node in range_nodes(start, end):
            seen[node] = None
    return list(seen)


def inclusion_nodes(index: int, size: int) -> list[NodeId]:
    """Every perfect node an inclusion proof of ``index`` in a tree of ``size`` needs."""
    return _nodes_of(inclusion_ranges(index, size))


def consistency_nodes(first: int, second: int) -> list[NodeId]:
    """Every perfect node a consistency proof from ``first`` to ``second`` needs."""
    return _nodes_of(consistency_ranges(first, second))


def root_nodes(size: int) -> list[NodeId]:
    """The perfect nodes whose fold is the root of a tree of ``size`` leaves."""
    return range_nodes(0, size) if size else []


def inclusion_proof(index: int, size: int, node: NodeLookup) -> list[bytes]:
    """PATH(index, D[size]) built from perfect nodes."""
    return [range_hash(s, e, node) for s, e in inclusion_ranges(index, size)]


def consistency_proof(first: int, second: int, node: NodeLookup) -> list[bytes]:
    """PROOF(first, D[second]) built from perfect nodes."""
    return [range_hash(s, e, node) for s, e in consistency_ranges(first, second)]


def tree_root(size: int, node: NodeLookup) -> bytes:
    """MTH(D[size]) built from perfect nodes."""
    return range_hash(0, size, node) if size else EMPTY_ROOT


def lookup_in(nodes: Mapping[NodeId, bytes]) -> NodeLookup:
    """A NodeLookup over a mapping; a missing node is a KeyError naming it."""

    def get(level: int, index: int) -> bytes:
        return nodes[(level, index)]

    return get


def perfect_nodes(leaves: Sequence[bytes]) -> dict[NodeId, bytes]:
    """Every perfect node of a sequence of leaf hashes (reference helper for tests and tools)."""
    out: dict[NodeId, bytes] = {(0, i): h for i, h in enumerate(leaves)}
    level, row = 0, list(leaves)
    while len(row) > 1:
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
        level += 1
        out.update({(level, i): h for i, h in enumerate(row)})
    return out


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ---


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """True when ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``size`` with ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> bool:
    """True when ``proof`` shows the tree of ``first`` leaves is a prefix of the tree of ``second``.

    Sizes 0 and equal sizes need an empty proof (and, for equal sizes, equal roots).
    """
    if not 0 <= first <= second:
        return False
    if first == 0:
        return not proof and first_root == EMPTY_ROOT and (second > 0 or second_root == EMPTY_ROOT)
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# --- the frontier (compact range [0, size)) ---


@dataclass(slots=True)
class Frontier:
    """The perfect nodes covering ``[0, size)``, largest first; O(log n) appends.

    ``append`` returns the perfect nodes of level >= 1 that the new leaf completes, as
    ``(level, index, hash)``, so a store can keep them for proofs.
    """

    size: int = 0
    nodes: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the interior perfect nodes it completes."""
        done: list[tuple[int, int, bytes]] = []
        h, n, level = leaf, self.size, 0
        while n & 1:
            h = node_hash(self.nodes.pop(), h)
            n >>= 1
            level += 1
            done.append((level, n, h))
        self.nodes.append(h)
        self.size += 1
        return done

    def root(self) -> bytes:
        """MTH of the leaves appended so far."""
        return fold_nodes(self.nodes) if self.nodes else EMPTY_ROOT

    def node_ids(self) -> list[NodeId]:
        """The (level, index) of each frontier node, matching ``nodes``."""
        return root_nodes(self.size)

    def copy(self) -> Frontier:
        """An independent copy."""
        return Frontier(self.size, list(self.nodes))

    def to_bytes(self) -> bytes:
        """The frontier hashes concatenated (the size is stored beside it)."""
        return b"".join(self.nodes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        """Rebuild a frontier stored with ``to_bytes``; raise ValueError when it does not fit the size."""
        count = size.bit_count()
        if size < 0 or len(data) != count * HASH_SIZE:
            raise ValueError("stored frontier does not match the tree size")
        return cls(size, [data[i * HASH_SIZE : (i + 1) * HASH_SIZE] for i in range(count)])

    @classmethod
    def from_nodes(cls, size: int, node: NodeLookup) -> Frontier:
        """Rebuild the frontier of ``size`` from stored perfect nodes."""
        return cls(size, [node(level, index) for level, index in root_nodes(size)])
