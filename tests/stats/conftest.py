"""Test-only measures registered for the statistics tests, removed afterwards.

``_test_rdm_spearman`` is a small RSA-like measure (correlation-distance RDMs compared by Spearman over
the upper triangle) that declares the distinct-pairs hooks, so the resampling rule for RDM-based
measures is tested independently of the RSA family.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import rankdata

from reprlab import _registry
from reprlab._linalg import upper_triangle
from reprlab.errors import ReprlabError
from tests.conftest import temporary_measure


def corr_rdm(X: torch.Tensor) -> torch.Tensor:
    Z = X - X.mean(1, keepdim=True)
    Z = Z / Z.norm(dim=1, keepdim=True)
    D = 1.0 - Z @ Z.T
    return D.fill_diagonal_(0.0)


def spearman_t(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    ra = torch.from_numpy(rankdata(a.numpy())).to(a.dtype)
    rb = torch.from_numpy(rankdata(b.numpy())).to(a.dtype)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return (ra @ rb) / torch.sqrt((ra @ ra) * (rb @ rb))


@pytest.fixture
def rdm_measure():
    """A registered pairwise-distance measure with the ``pair_matrix`` / ``compare_pairs`` hooks."""
    name = "_test_rdm_spearman"
    with temporary_measure(
        name,
        lambda DX, DY: spearman_t(upper_triangle(DX), upper_triangle(DY)),
        range=(-1.0, 1.0),
        prepare=lambda X, **_: corr_rdm(X),
        hooks=_registry.Hooks(pair_matrix=lambda P, **_: P, compare_pairs=lambda dx, dy, **_: spearman_t(dx, dy)),
    ) as registered:
        yield registered


@pytest.fixture
def rows_measure_with_data():
    """A registered rows-rule measure with a per-stimulus data parameter (``weights``)."""
    name = "_test_weighted_corr"

    def core(X, Y, *, weights=None):
        return torch.corrcoef(torch.stack([X[:, 0], Y[:, 0]]))[0, 1]

    with temporary_measure(
        name,
        core,
        params={"weights": _registry.Param(None, data=True)},
        range=(-1.0, 1.0),
    ) as registered:
        yield registered


@pytest.fixture
def fragile_measure():
    """A measure that refuses fewer than 40 stimuli (to test how failures in the jackknife are reported)."""
    name = "_test_fragile"

    def core(X, Y):
        if X.shape[0] < 40:
            raise ReprlabError("at least 40 stimuli are needed")
        return torch.zeros((), dtype=X.dtype)

    with temporary_measure(
        name,
        core,
        range=(0.0, 0.0),
    ) as registered:
        yield registered


@pytest.fixture
def gauss():
    """Two related Gaussian representations of 40 stimuli."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(40, 6))
    Y = X @ rng.normal(size=(6, 5)) + rng.normal(size=(40, 5))
    return X, Y


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The statistics run thousands of tiny tensor operations, for which torch's intra-op threads cost
    far more than they save on a loaded machine (30x here); use one thread in these tests."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def asymmetric_measure():
    """An asymmetric measure: squared correlation of X's first unit with Y's mean unit."""
    name = "_test_asymmetric"

    def core(X, Y):
        return torch.corrcoef(torch.stack([X[:, 0], Y.mean(1)]))[0, 1] ** 2

    with temporary_measure(
        name,
        core,
        symmetric=False,
    ) as registered:
        yield registered
