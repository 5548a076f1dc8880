"""The reference values in tests/data are the ones tests/data/README.md lists (and, when the project's
shared folder sits beside the checkout, still equal to it)."""

from __future__ import annotations

import hashlib
import re

from tests.conftest import ORACLES, SHARED

DATA = ORACLES.parent


def _listed_sums() -> dict[str, str]:
    text = (DATA / "README.md").read_text()
    return dict(re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", text, flags=re.M))


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_reference_file_is_listed_with_its_checksum():
    listed = _listed_sums()
    present = {str(p.relative_to(DATA)) for p in ORACLES.rglob("*") if p.suffix in {".json", ".npz"}}
    assert present == set(listed)
    for name, digest in listed.items():
        assert _sha256(DATA / name) == digest, name


def test_copy_equals_the_shared_reference_set_when_it_is_beside_the_checkout():
    shared = SHARED / "oracles"
    names = list(_listed_sums())
    beside = [n for n in names if (shared / n.removeprefix("oracles/")).exists()]
    # A bare clone has no shared folder: then there is nothing to compare, and nothing is claimed.
    for name in beside:
        assert _sha256(shared / name.removeprefix("oracles/")) == _sha256(DATA / name), name
