"""Shared test fixtures: the reference ("oracle") values in tests/data/oracles and random data."""

from __future__ import annotations

import json
import math
import os
from contextlib import contextmanager
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import pytest

from reprlab import _registry

ROOT = Path(__file__).resolve().parents[1]
# The reference values travel with the tests (tests/data/README.md says where they come from).
ORACLES = Path(__file__).resolve().parent / "data" / "oracles"
# The project's shared folder, when it sits beside the checkout: optional, only for extra checks.
SHARED = Path(os.environ.get("REPRLAB_SHARED", ROOT.parent / "shared"))

_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _decode(v):
    if isinstance(v, str):
        return _NONFINITE[v]
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v


@lru_cache(maxsize=1)
def oracle_doc() -> dict:
    path = ORACLES / "values.json"
    if not path.exists():
        raise FileNotFoundError(
            f"The reference values are missing: {path}. They are part of the repository "
            "(tests/data/oracles): restore them with `git checkout -- tests/data`."
        )
    return json.loads(path.read_text())


@cache
def oracle_case(name: str) -> dict[str, np.ndarray]:
    """The arrays of one oracle case, by case name."""
    case = oracle_doc()["cases"][name]
    with np.load(ORACLES / case["file"]) as z:
        return {k: z[k] for k in z.files}


def oracle_records(
    measure_id: str, *, peer: str | None = None, dtype: str = "float64", status: str = "ok"
) -> list[dict]:
    """Every record of ``measure_id`` (optionally from one peer) with decoded values.

    Raises when none exists, so a parity test can never pass by matching nothing.
    """
    out = []
    for r in oracle_doc()["records"]:
        if r["measure_id"] != measure_id or r["status"] != status:
            continue
        if peer is not None and r["peer"] != peer:
            continue
        if r.get("peer_input_dtype", "float64") != dtype:
            continue
        out.append({**r, "value": _decode(r["value"])})
    if not out:
        raise LookupError(f"no {status} oracle record for {measure_id!r} (peer={peer}, dtype={dtype})")
    return out


def oracle_inputs(record: dict) -> list[np.ndarray]:
    """The arrays a record's peer received, in argument order."""
    arrays = oracle_case(record["case"])
    return [arrays[name] for name in record["inputs"]]


def assert_oracle(got, record: dict, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """Compare ``got`` with a record's value under the oracle README's rules (angles near 0 loosely)."""
    want = np.asarray(record["value"], dtype=float)
    got = np.asarray(got, dtype=float)
    if record.get("kind") == "angle_radians" and np.all(np.abs(want) < 1e-6):
        atol = max(atol, 1e-7)
    np.testing.assert_allclose(
        got,
        want,
        rtol=rtol,
        atol=atol,
        err_msg=f"{record['measure_id']} on {record['case']} vs {record['peer']} ({record['call']})",
    )


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M, loaded once per test session (~17 s, ~1.2 GB)."""
    import reprlab as rl

    return rl.zoo.load("smollm2-135m")


@pytest.fixture(scope="session")
def smollm2_lm(smollm2):
    """The same session-wide SmolLM2 zoo model (the name the brain tests use)."""
    return smollm2


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@contextmanager
def temporary_measure(name: str, core, **info):
    """Register ``core`` as a test-only compare measure for a ``with`` block, and always remove it.

    ``info`` overrides the registration fields (defaults: a symmetric similarity in [0, 1] with no
    parameters, invariances or hooks).
    """
    fields = {
        "family": "_test",
        "params": {},
        "larger_is_similar": True,
        "is_metric": False,
        "symmetric": True,
        "invariances": set(),
        "range": (0.0, 1.0),
        "references": ("test only",),
        "summary": "test only",
        **info,
    }
    _registry.register(name, **fields)(core)
    try:
        yield name
    finally:
        _registry._REGISTRY.pop(name, None)
