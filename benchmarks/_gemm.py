"""Pseudo-workload: the machine's float32 GEMM rate now (NumPy and torch), for the limits."""

from __future__ import annotations

from pathlib import Path

from _common import gemm_rate


def run_variant(name: str, workdir: Path) -> dict:
    rates = gemm_rate()
    return {"seconds": 0.0, "rates": rates, "rate": max(rates.values())}
