"""reprlab._linalg.matmul: oneDNN for large float32 CPU products, plain ``@`` everywhere else."""

from __future__ import annotations

import warnings

import pytest
import torch

from reprlab._linalg import ONEDNN_MIN_MACS, _onednn_linear_available, _onednn_ok, add_matmul_, matmul, torch_on_threads

needs_onednn = pytest.mark.skipif(not _onednn_linear_available(), reason="this torch build has no oneDNN linear")


def _pair(m: int, k: int, n: int, dtype=torch.float32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(m, k, generator=g, dtype=dtype), torch.randn(k, n, generator=g, dtype=dtype)


def _rel_err(got: torch.Tensor, A: torch.Tensor, B: torch.Tensor) -> float:
    want = A.double() @ B.double()
    return float((got.double() - want).norm() / want.norm())


@needs_onednn
@pytest.mark.parametrize("b_layout", ["row", "col"])
def test_large_float32_products_take_onednn_at_float32_accuracy(b_layout):
    A, B = _pair(256, 300, 256)
    B = B if b_layout == "row" else B.T.contiguous().T  # column-major: a transposed contiguous matrix
    assert A.shape[0] * A.shape[1] * B.shape[1] >= ONEDNN_MIN_MACS
    assert _onednn_ok(A, B)
    got = matmul(A, B)
    assert got.shape == (256, 256) and got.dtype == torch.float32
    # the same float32 arithmetic in another order: errors of the size of the default BLAS's
    assert _rel_err(got, A, B) < 4.0 * max(_rel_err(A @ B, A, B), 1e-7)


@pytest.mark.parametrize(
    "case",
    ["small", "float64", "strided_b", "column_major_a", "grad", "disabled", "lowered_precision"],
)
def test_everything_else_is_plain_matmul(case):
    A, B = _pair(256, 300, 256, torch.float64 if case == "float64" else torch.float32)
    if case == "small":
        A, B = A[:16], B[:, :16]
    if case == "strided_b":  # a column slice: oneDNN would fall back to a reference loop
        B = torch.cat([B, B], dim=1)[:, 100:356]
    if case == "column_major_a":
        A = A.T.contiguous().T
    if case == "grad":
        A.requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own notes when its oneDNN flags are set
        if case == "disabled":
            ctx = torch.backends.mkldnn.flags(enabled=False)
        elif case == "lowered_precision":
            ctx = torch.backends.mkldnn.flags(enabled=True, fp32_precision="bf16")
        else:
            ctx = torch.backends.mkldnn.flags(enabled=True)
        with ctx:
            assert not _onednn_ok(A, B)
            got, want = matmul(A, B), A @ B  # (a lowered precision applies to @ as well)
    assert torch.equal(got, want)
    if case == "grad":
        got.sum().backward()
        torch.testing.assert_close(A.grad, B.sum(1).expand_as(A))


@pytest.mark.parametrize("acc", [torch.float32, torch.float64])
def test_add_matmul_accumulates_in_place(acc):
    A, B = _pair(256, 300, 256)
    C = torch.ones(256, 256, dtype=acc)
    before = C
    out = add_matmul_(C, A, B.T.contiguous().T)
    assert out is before and C.dtype == acc
    want = 1.0 + A.double() @ B.double()
    assert float((C.double() - want).norm() / want.norm()) < 1e-6


def test_torch_on_threads_equals_a_loop_restores_the_thread_count_and_raises():
    before = torch.get_num_threads()
    mats = [torch.randn(40, 40, generator=torch.Generator().manual_seed(s), dtype=torch.float64) for s in range(5)]
    torch.set_num_threads(3)  # three worker threads, whatever the machine
    try:
        got = torch_on_threads(lambda m: torch.linalg.eigvalsh(m @ m.T), mats)
        assert torch.get_num_threads() == 3

        def boom(m: torch.Tensor) -> torch.Tensor:
            raise ValueError("from a worker")

        with pytest.raises(ValueError, match="from a worker"):
            torch_on_threads(boom, mats)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    for g, m in zip(got, mats):
        torch.testing.assert_close(g, torch.linalg.eigvalsh(m @ m.T), rtol=1e-12, atol=1e-12)


def test_torch_on_threads_nested_runs_in_order_and_restores_once():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        inner_counts = []

        def outer(k: int) -> list[int]:
            inner_counts.append(torch.get_num_threads())  # 1 inside a worker
            return torch_on_threads(lambda j: j * k, [1, 2, 3])  # the lock is held: one after the other

        assert torch_on_threads(outer, [1, 2]) == [[1, 2, 3], [2, 4, 6]]
        assert inner_counts == [1, 1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_private_onednn_op_fails_loudly_when_torch_changes_it():
    """``matmul`` calls torch's private ``torch.ops.mkldnn._linear_pointwise``. Where torch has oneDNN
    (every x86 CPU build) the op must still be registered with the schema ``matmul`` calls and compute
    ``X @ W^T``; a torch upgrade that drops, renames or changes it fails here instead of silently
    costing speed or, worse, giving other numbers. Without oneDNN ``matmul`` is the public ``@``."""
    A, B = _pair(64, 48, 32)
    if not torch.backends.mkldnn.is_available():
        assert not _onednn_linear_available()
        assert torch.equal(matmul(A, B), A @ B)
        return
    assert _onednn_linear_available(), "torch has oneDNN but no longer registers mkldnn::_linear_pointwise"
    schema = str(torch.ops.mkldnn._linear_pointwise.default._schema)
    assert schema.startswith(
        "mkldnn::_linear_pointwise(Tensor X, Tensor W, Tensor? B, str attr, Scalar?[] scalars, str? algorithm)"
    ), f"the private oneDNN linear op changed its signature: {schema}"
    got = torch.ops.mkldnn._linear_pointwise(A, B.mT, None, "none", [], "")
    assert got.shape == (64, 32) and got.dtype == torch.float32
    assert _rel_err(got, A, B) < 4.0 * max(_rel_err(A @ B, A, B), 1e-7)
