"""Merkle hashing and proofs, checked against published vectors and an independent RFC 9162 reference."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys

import pytest

from gateway.domain.transparency import merkle
from tests.support import rfc9162

# Certificate Transparency's RFC 6962 test leaves and the root of each prefix (size 0..8).
CT_LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                        "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CT_CONSISTENCY_2_5 = [
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
]


def data(n: int) -> list[bytes]:
    return [f"entry-{i}".encode() for i in range(n)]


def hashed(items: list[bytes]) -> list[bytes]:
    return [merkle.leaf_hash(d) for d in items]


def test_roots_match_the_published_rfc6962_vectors() -> None:
    leaves = hashed(CT_LEAVES)
    for size in range(len(CT_LEAVES) + 1):
        assert merkle.root_of(leaves[:size]).hex() == CT_ROOTS[size]
        frontier = merkle.Frontier()
        for leaf in leaves[:size]:
            frontier.append(leaf)
        assert frontier.root().hex() == CT_ROOTS[size]


def test_proofs_match_the_published_vectors() -> None:
    lookup = merkle.lookup_in(merkle.perfect_nodes(hashed(CT_LEAVES)))
    for (index, size), expected in CT_INCLUSION.items():
        assert [p.hex() for p in merkle.inclusion_proof(index, size, lookup)] == expected
    assert [p.hex() for p in merkle.consistency_proof(2, 5, lookup)] == CT_CONSISTENCY_2_5


def test_the_split_is_rfc6962s_and_not_the_midpoint() -> None:
    # A midpoint split gives a different (silently incompatible) root for 7 leaves.
    leaves = hashed(data(7))
    assert merkle.root_of(leaves) == rfc9162.MTH(data(7))
    midpoint = merkle.node_hash(merkle.root_of(leaves[:3]), merkle.root_of(leaves[3:]))
    assert merkle.root_of(leaves) != midpoint


@pytest.mark.parametrize("size", [*range(1, 34), 64, 65, 100])
def test_every_inclusion_proof_equals_the_rfc_path_and_verifies_independently(size: int) -> None:
    items = data(size)
    leaves = hashed(items)
    lookup = merkle.lookup_in(merkle.perfect_nodes(leaves))
    root = rfc9162.MTH(items)
    assert merkle.tree_root(size, lookup) == root
    for index in range(size):
        proof = merkle.inclusion_proof(index, size, lookup)
        assert proof == rfc9162.PATH(index, items)
        assert rfc9162.verify_inclusion(index, size, leaves[index], proof, root)
        assert merkle.verify_inclusion(leaves[index], index, size, proof, root)


@pytest.mark.parametrize("second", [*range(2, 34), 64, 65, 100])
def test_every_consistency_proof_equals_the_rfc_proof_and_verifies_independently(second: int) -> None:
    items = data(second)
    lookup = merkle.lookup_in(merkle.perfect_nodes(hashed(items)))
    second_root = rfc9162.MTH(items)
    for first in range(1, second):
        first_root = rfc9162.MTH(items[:first])
        proof = merkle.consistency_proof(first, second, lookup)
        assert proof == rfc9162.PROOF(first, items)
        assert rfc9162.verify_consistency(first, second, first_root, second_root, proof)
        assert merkle.verify_consistency(first, second, proof, first_root, second_root)


def test_verifiers_reject_every_corruption() -> None:
    items = data(13)
    leaves = hashed(items)
    lookup = merkle.lookup_in(merkle.perfect_nodes(leaves))
    root = merkle.root_of(leaves)
    proof = merkle.inclusion_proof(6, 13, lookup)
    bad = bytes(32)
    assert not merkle.verify_inclusion(leaves[6], 5, 13, proof, root)  # wrong index
    assert not merkle.verify_inclusion(leaves[6], 6, 17, proof, root)  # wrong size (another shape)
    assert not merkle.verify_inclusion(leaves[5], 6, 13, proof, root)  # wrong leaf
    assert not merkle.verify_inclusion(leaves[6], 6, 13, proof, bad)  # wrong root
    assert not merkle.verify_inclusion(leaves[6], 6, 13, proof[:-1], root)  # short proof
    assert not merkle.verify_inclusion(leaves[6], 6, 13, [*proof, bad], root)  # long proof
    assert not merkle.verify_inclusion(leaves[6], 13, 13, proof, root)  # index out of range
    for i in range(len(proof)):
        tampered = list(proof)
        tampered[i] = bad
        assert not merkle.verify_inclusion(leaves[6], 6, 13, tampered, root)
        assert not rfc9162.verify_inclusion(6, 13, leaves[6], tampered, root)

    first_root = merkle.root_of(leaves[:5])
    cproof = merkle.consistency_proof(5, 13, lookup)
    assert merkle.verify_consistency(5, 13, cproof, first_root, root)
    assert not merkle.verify_consistency(5, 13, cproof, bad, root)
    assert not merkle.verify_consistency(5, 13, cproof, first_root, bad)
    assert not merkle.verify_consistency(6, 13, cproof, first_root, root)
    assert not merkle.verify_consistency(5, 13, [], first_root, root)
    assert not merkle.verify_consistency(13, 5, cproof, first_root, root)
    for i in range(len(cproof)):
        tampered = list(cproof)
        tampered[i] = bad
        assert not merkle.verify_consistency(5, 13, tampered, first_root, root)
        assert not rfc9162.verify_consistency(5, 13, first_root, root, tampered)


def test_trivial_consistency_cases() -> None:
    leaves = hashed(data(4))
    root = merkle.root_of(leaves)
    assert merkle.consistency_ranges(0, 4) == []
    assert merkle.consistency_ranges(4, 4) == []
    assert merkle.verify_consistency(4, 4, [], root, root)
    assert not merkle.verify_consistency(4, 4, [], root, merkle.EMPTY_ROOT)
    assert merkle.verify_consistency(0, 4, [], merkle.EMPTY_ROOT, root)
    assert not merkle.verify_consistency(0, 4, [], root, root)


def test_frontier_appends_report_every_perfect_node_and_survive_storage() -> None:
    leaves = hashed(data(77))
    expected = merkle.perfect_nodes(leaves)
    frontier = merkle.Frontier()
    seen: dict[merkle.NodeId, bytes] = {}
    for i, leaf in enumerate(leaves):
        seen[(0, i)] = leaf
        for level, index, h in frontier.append(leaf):
            seen[(level, index)] = h
        restored = merkle.Frontier.from_bytes(frontier.size, frontier.to_bytes())
        assert restored.root() == merkle.root_of(leaves[: i + 1])
        assert merkle.Frontier.from_nodes(frontier.size, merkle.lookup_in(seen)).nodes == frontier.nodes
        frontier = restored
    assert seen == expected
    with pytest.raises(ValueError, match="does not match"):
        merkle.Frontier.from_bytes(5, b"\x00" * 32)


def test_range_nodes_refuse_ranges_that_are_not_subtrees() -> None:
    assert merkle.range_nodes(8, 13) == [(2, 2), (0, 12)]
    with pytest.raises(ValueError, match="not a subtree"):
        merkle.range_nodes(3, 7)
    with pytest.raises(ValueError, match="empty"):
        merkle.range_nodes(4, 4)


def test_random_large_trees_agree_with_the_reference() -> None:
    rng = random.Random(9162)
    items = [rng.randbytes(rng.randint(0, 40)) for _ in range(300)]
    leaves = hashed(items)
    lookup = merkle.lookup_in(merkle.perfect_nodes(leaves))
    for _ in range(60):
        second = rng.randint(2, 300)
        first = rng.randint(1, second - 1)
        index = rng.randrange(second)
        root = rfc9162.MTH(items[:second])
        assert rfc9162.verify_inclusion(
            index, second, leaves[index], merkle.inclusion_proof(index, second, lookup), root
        )
        assert rfc9162.verify_consistency(
            first, second, rfc9162.MTH(items[:first]), root, merkle.consistency_proof(first, second, lookup)
        )


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert merkle.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT


def test_ledger_domain_modules_import_no_io_or_crypto_library() -> None:
    code = (
        "import sys\n"
        "import gateway.domain.transparency.merkle, gateway.domain.transparency.checkpoint\n"
        "import gateway.domain.ledger.envelope, gateway.domain.ledger.records, gateway.domain.ledger.terms\n"
        "libs = ('sqlalchemy', 'fastapi', 'cryptography', 'httpx', 'starlette')\n"
        "bad = [m for m in libs if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
