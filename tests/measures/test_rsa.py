"""RSA: RDMs, transforms and comparators against rsatoolbox 0.3.2 (oracle records and fresh data),
properties of the rank comparators, the batched path used by compare_all, and every error."""

from __future__ import annotations

import copy
import importlib

import numpy as np
import pytest
import rsatoolbox
import scipy.spatial.distance as ssd
from hypothesis import given, settings
from hypothesis import strategies as st
from rsatoolbox.rdm import RDMs
from rsatoolbox.rdm import compare as rt_compare

import reprlab as rl
from reprlab import _registry
from reprlab.errors import ReprlabError, ReprlabTypeError
from tests.conftest import assert_oracle, oracle_case, oracle_inputs, oracle_records

rsa_mod = importlib.import_module("reprlab.measures.rsa")
rsa_core = importlib.import_module("reprlab.measures.rsa.core")
rt_transform = importlib.import_module("rsatoolbox.rdm.transform")  # the package also exports a function `transform`

PAIR_COMPARATORS = [
    "cosine",
    "pearson",
    "spearman",
    "rho_a",
    "kendall_tau_a",
    "kendall_tau_b",
    "whitened_pearson",
    "whitened_cosine",
    "bures",
    "bures_metric_squared",
]
PEER_NAME = {
    "pearson": "corr",
    "rho_a": "rho-a",
    "kendall_tau_a": "tau-a",
    "kendall_tau_b": "kendall",
    "whitened_pearson": "corr_cov",
    "whitened_cosine": "cosine_cov",
    "bures_metric_squared": "bures_metric",
    "neg_riemannian": "neg_riem_dist",
}


# ------------------------------------------------------------------------------ oracle parity


@pytest.mark.parametrize("compare", PAIR_COMPARATORS)
@pytest.mark.parametrize("rdm_id, params", [("correlation", {}), ("sqeuclidean_over_d", {"rdm": "sqeuclidean"})])
def test_rsa_matches_rsatoolbox(rdm_id, params, compare):
    records = []
    try:
        records = oracle_records(f"rsa.rdm={rdm_id}.compare={compare}", peer="rsatoolbox")
    except LookupError:
        if rdm_id == "correlation" or compare in ("cosine", "pearson", "spearman", "kendall_tau_a", "kendall_tau_b"):
            raise
    for rec in records:
        X, Y = oracle_inputs(rec)
        # rsatoolbox's 'euclidean' divides by n_channels; rank comparators do not care, the others do
        norm = {"normalize": True} if rdm_id == "sqeuclidean_over_d" else {}
        assert_oracle(rl.measures.rsa(X, Y, compare=compare, **params, **norm), rec)


@pytest.mark.parametrize("rdm_id, rdm", [("correlation", "correlation"), ("euclidean", "euclidean")])
def test_rsa_matches_resi(rdm_id, rdm):
    for rec in oracle_records(f"rsa.rdm={rdm_id}.compare=spearman", peer="resi-repsim"):
        X, Y = oracle_inputs(rec)
        assert_oracle(rl.measures.rsa(X, Y, rdm=rdm), rec)
        assert_oracle(rl.compare(X, Y, f"rsa(rdm={rdm})"), rec)


@pytest.mark.parametrize("compare", [*PAIR_COMPARATORS])
def test_compare_rdms_matches_rsatoolbox(compare):
    for rec in oracle_records(f"rsa.compare={compare}"):
        a, b = oracle_inputs(rec)
        assert_oracle(rl.compare_rdms(a, b, method=compare), rec)
        assert_oracle(rl.compare_rdms(rl.RDM(a), rl.RDM(ssd.squareform(b)), method=compare), rec)


@pytest.mark.parametrize("compare", ["cosine", "pearson", "spearman", "kendall_tau_a", "kendall_tau_b", "bures"])
def test_compare_rdm_stacks_matches_rsatoolbox(compare):
    for rec in oracle_records(f"rsa.compare={compare}.many_to_many"):
        A, B = oracle_inputs(rec)
        got = rl.compare_rdms(A, B, method=compare)
        assert got.shape == (3, 4)
        assert_oracle(got, rec)


def test_bures_metric_is_the_square_root_of_rsatoolbox_value():
    rec = oracle_records("rsa.compare=bures_metric_squared")[0]
    a, b = oracle_inputs(rec)
    assert rl.compare_rdms(a, b, method="bures_metric") == pytest.approx(np.sqrt(rec["value"]), rel=1e-6)


def test_riemannian_matches_rsatoolbox_loosely():
    """rsatoolbox's neg_riem_dist optimises two scalings by Nelder-Mead (exact: false): 1e-4 relative;
    reprlab's ``riemannian`` is the (positive) distance, ``neg_riemannian`` the peer's sign."""
    rec = oracle_records("rsa.compare=neg_riemannian")[0]
    assert rec["exact"] is False
    a, b = oracle_inputs(rec)
    assert_oracle(rl.compare_rdms(a, b, method="neg_riemannian"), rec, rtol=1e-4)
    assert rl.compare_rdms(a, b, method="riemannian") == pytest.approx(-rec["value"], rel=1e-4)


DATASET = "rsa_dataset_c12_r4_ch50"


@pytest.mark.parametrize(
    "measure_id, data, params",
    [
        ("rsa.calc_rdm.method=sqeuclidean_over_d", "data", {"method": "sqeuclidean", "normalize": True}),
        (
            "rsa.calc_rdm.method=sqeuclidean_over_d.remove_mean",
            "data",
            {"method": "sqeuclidean", "normalize": True, "remove_mean": True},
        ),
        ("rsa.calc_rdm.method=correlation", "data", {"method": "correlation"}),
        ("rsa.calc_rdm.method=mahalanobis.noise=noise_prec", "data", {"method": "mahalanobis", "noise": "noise_prec"}),
        ("rsa.calc_rdm.method=crossnobis.cv=runs.noise=identity", "data", {"method": "crossnobis", "runs": "runs"}),
        (
            "rsa.calc_rdm.method=crossnobis.cv=runs.noise=noise_prec",
            "data",
            {"method": "crossnobis", "runs": "runs", "noise": "noise_prec"},
        ),
        ("rsa.calc_rdm.method=poisson.prior_lambda=1.prior_weight=0.1", "counts", {"method": "poisson"}),
        (
            "rsa.calc_rdm.method=poisson_cv.cv=runs.prior_lambda=1.prior_weight=0.1",
            "counts",
            {"method": "poisson_cv", "runs": "runs", "cv_average": False},
        ),
    ],
)
def test_rdm_matches_rsatoolbox(measure_id, data, params):
    z = oracle_case(DATASET)
    kw = {k: (z[v] if k in ("runs", "noise") else v) for k, v in params.items()}
    for rec in oracle_records(measure_id):
        D = rl.rdm(z[data], conditions=z["conds"], **kw)
        assert list(D.labels) == rec["value_meta"]["conds_order"]
        assert D.n_conditions == 12
        assert_oracle(D.condensed, rec)
        np.testing.assert_allclose(D.square, ssd.squareform(np.asarray(rec["value"])), rtol=1e-6, atol=1e-9)


def test_poisson_cv_averages_folds():
    """rsatoolbox 0.3.2 keeps the last fold's RDM only (oracle README bug 5; reproduced above with
    cv_average=False); reprlab averages the leave-one-run-out folds."""
    z = oracle_case(DATASET)
    counts, conds, runs = z["counts"], z["conds"], z["runs"]
    labels = np.unique(conds)

    def means(rows):
        return np.stack([counts[rows & (conds == c)].mean(0) for c in labels])

    folds = []
    for f in np.unique(runs):
        train = (means(runs != f) + 0.1) / 1.1
        test = (means(runs == f) + 0.1) / 1.1
        K = train @ np.log(test).T
        S = np.diag(K)[None, :] + np.diag(K)[:, None] - K - K.T
        folds.append(S[np.triu_indices(len(labels), 1)] / counts.shape[1])
    got = rl.rdm(counts, "poisson_cv", conditions=conds, runs=runs).condensed
    np.testing.assert_allclose(got, np.mean(folds, axis=0), rtol=1e-10)
    last = rl.rdm(counts, "poisson_cv", conditions=conds, runs=runs, cv_average=False).condensed
    np.testing.assert_allclose(last, folds[-1], rtol=1e-10)


@pytest.mark.parametrize("inp", ["rdm_a", "rdm_b"])
@pytest.mark.parametrize("kind, params", [("rank", {"rank_method": "average"}), ("rank", {"rank_method": "min"})])
def test_rank_transform_matches_rsatoolbox(inp, kind, params):
    for rec in oracle_records(f"rsa.transform=rank.method={params['rank_method']}.input={inp}"):
        (v,) = oracle_inputs(rec)
        assert_oracle(rl.rdm_transform(v, kind, **params).condensed, rec)


@pytest.mark.parametrize("inp", ["rdm_a", "rdm_b"])
@pytest.mark.parametrize("kind", ["sqrt", "minmax"])
def test_sqrt_and_minmax_match_rsatoolbox(inp, kind):
    for rec in oracle_records(f"rsa.transform={kind}.input={inp}"):
        (v,) = oracle_inputs(rec)
        assert_oracle(rl.rdm_transform(rl.RDM(v), kind).condensed, rec)


@pytest.mark.parametrize("inp", ["rdm_a", "rdm_b"])
def test_topological_records_reproduced_as_the_peer_computed_them(inp):
    """The geotopological and geodesic oracle records were computed by rsatoolbox 0.3.2 on an RDMs object
    that its own earlier calls had modified in place (``get_vectors`` returns a view; ``minmax_transform``
    and ``geotopological_transform`` write into it). So the record for geotopological(0.1, 0.9) is that
    transform of minmax(d), the one for (0.25, 0.6) is applied to the result of (0.1, 0.9), and the geodesic
    record is the geodesic transform of that. Chaining reprlab's transforms the same way, with rsatoolbox's
    conventions switched on (sequential masks; zero-weight edges dropped; infinities kept), reproduces
    every record; the correct values are tested below."""
    (v,) = oracle_inputs(oracle_records(f"rsa.transform=minmax.input={inp}")[0])
    d = rl.rdm_transform(v, "minmax")
    d = rl.rdm_transform(d, "geotopological", lower=0.1, upper=0.9, rsatoolbox_masks=True)
    assert_oracle(d.condensed, oracle_records(f"rsa.transform=geotopological.low=0.1.up=0.9.input={inp}")[0])
    d = rl.rdm_transform(d, "geotopological", lower=0.25, upper=0.6, rsatoolbox_masks=True)
    assert_oracle(d.condensed, oracle_records(f"rsa.transform=geotopological.low=0.25.up=0.6.input={inp}")[0])
    geo = rl.rdm_transform(d, "geodesic", drop_zero_edges=True, disconnected="inf").condensed
    assert_oracle(geo, oracle_records(f"rsa.transform=geodesic.input={inp}")[0])
    # the mutation itself, in the installed peer
    R = RDMs(v[None].copy())
    rt_transform.minmax_transform(R)
    assert R.get_vectors().max() == 1.0


@pytest.mark.parametrize("inp", ["rdm_a", "rdm_b"])
@pytest.mark.parametrize("lower, upper", [(0.1, 0.9), (0.25, 0.6), (0.0, 1.0), (0.5, 0.5)])
def test_geotopological_correct_values(inp, lower, upper):
    (v,) = oracle_inputs(oracle_records(f"rsa.transform=minmax.input={inp}")[0])
    lo, hi = np.quantile(v, lower), np.quantile(v, upper)
    want = np.where(v < lo, 0.0, np.where(v > hi, 1.0, (v - lo) / (hi - lo) if hi > lo else 0.0))
    got = rl.rdm_transform(v, "geotopological", lower=lower, upper=upper).condensed
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    if hi > 1 and hi > lo:  # bounds above 1: rsatoolbox's sequential masks are harmless, and it agrees
        peer = rt_transform.geotopological_transform(RDMs(v[None].copy()), lower, upper).get_vectors()[0]
        np.testing.assert_allclose(got, peer, rtol=1e-12)


def test_geotopological_peer_masks_differ_only_below_one():
    v = np.linspace(0.0, 0.9, 45)  # 10 conditions, every value below 1
    good = rl.rdm_transform(v, "geotopological", lower=0.1, upper=0.5).condensed
    peer = rt_transform.geotopological_transform(RDMs(v[None].copy()), 0.1, 0.5).get_vectors()[0]
    ours_peer = rl.rdm_transform(v, "geotopological", lower=0.1, upper=0.5, rsatoolbox_masks=True).condensed
    np.testing.assert_allclose(ours_peer, peer, rtol=1e-12)
    assert not np.allclose(good, peer)  # interpolated values above the upper bound were reset to 1
    assert np.all(np.diff(good) >= 0)  # the correct transform is monotone


def test_geodesic_matches_rsatoolbox_on_fresh_rdm():
    g = np.random.default_rng(1)
    v = ssd.pdist(g.normal(size=(15, 4)), "sqeuclidean")
    peer = rt_transform.geodesic_transform(RDMs(v[None].copy())).get_vectors()[0]
    got = rl.rdm_transform(v, "geodesic", drop_zero_edges=True).condensed
    np.testing.assert_allclose(got, peer, rtol=1e-12)
    correct = rl.rdm_transform(v, "geodesic").condensed
    assert correct[np.argmin(v)] == 0.0  # the most similar pair: an edge of weight 0
    assert np.all(correct <= rl.rdm_transform(v, "minmax").condensed + 1e-15)  # paths never exceed edges
    # geodesic distances satisfy the triangle inequality
    S = ssd.squareform(correct)
    assert np.all(S[:, None, :] <= S[:, :, None] + S[None, :, :] + 1e-12)  # S[i, k] <= S[i, j] + S[j, k]


def test_geodesic_disconnected_graph():
    """A categorical RDM: removing its maximal (between-category) edges disconnects the graph. rsatoolbox
    raises "Distance matrix 'X' must be symmetric" (oracle README bug 7); reprlab says why."""
    labels = np.array([0, 0, 0, 1, 1, 1])
    v = ssd.pdist(labels[:, None], lambda a, b: float(a[0] != b[0])) + 0.1 * np.arange(15) / 15
    v[ssd.squareform(labels[:, None] != labels[None, :], checks=False).astype(bool)] = 1.0
    with pytest.raises(ReprlabError, match="disconnected"):
        rl.rdm_transform(v, "geodesic")
    out = rl.rdm_transform(v, "geodesic", disconnected="inf").square
    assert np.isinf(out[0, 3]) and np.isfinite(out[0, 1])


# --------------------------------------------------------------------- rsatoolbox on fresh data


def _dataset(g: np.random.Generator, n_cond=7, n_runs=3, d=9):
    conds = np.repeat([f"k{i}" for i in g.permutation(n_cond)], n_runs)
    runs = np.tile([f"r{j}" for j in range(n_runs)], n_cond)
    data = g.normal(size=(n_cond * n_runs, d)) + np.repeat(g.normal(size=(n_cond, d)), n_runs, axis=0)
    A = g.normal(size=(d, d))
    prec = A @ A.T / d + np.eye(d)
    return data, conds, runs, prec


@pytest.mark.parametrize(
    "method, peer, kw",
    [
        ("sqeuclidean", "euclidean", {"normalize": True}),
        ("correlation", "correlation", {}),
        ("mahalanobis", "mahalanobis", {"noise": True}),
        ("crossnobis", "crossnobis", {"runs": True}),
        ("crossnobis", "crossnobis", {"runs": True, "noise": True}),
        ("poisson", "poisson", {}),
    ],
)
def test_rdm_matches_rsatoolbox_on_fresh_data(method, peer, kw):
    g = np.random.default_rng(7)
    data, conds, runs, prec = _dataset(g)
    if method == "poisson":
        data = g.poisson(3.0, size=data.shape).astype(float)
    ds = rsatoolbox.data.Dataset(data, obs_descriptors={"conds": conds, "runs": runs})
    pkw = {"descriptor": "conds"}
    ours = {"conditions": conds}
    if kw.get("noise"):
        pkw["noise"], ours["noise"] = prec, prec
    if kw.get("runs"):
        pkw["cv_descriptor"], ours["runs"] = "runs", runs
    want = rsatoolbox.rdm.calc_rdm(ds, method=peer, **pkw)
    got = rl.rdm(data, method, normalize=kw.get("normalize", False), **ours)
    np.testing.assert_allclose(got.condensed, want.get_vectors()[0], rtol=1e-9, atol=1e-12)
    assert list(got.labels) == list(want.pattern_descriptors["conds"])


def test_euclidean_and_cosine_rdms():
    X = np.random.default_rng(2).normal(size=(12, 5))
    np.testing.assert_allclose(rl.rdm(X, "euclidean").condensed, ssd.pdist(X), rtol=1e-10)
    np.testing.assert_allclose(rl.rdm(X, "sqeuclidean").condensed, ssd.pdist(X, "sqeuclidean"), rtol=1e-10)
    np.testing.assert_allclose(rl.rdm(X, "cosine").condensed, ssd.pdist(X, "cosine"), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rl.rdm(X, "correlation").condensed, ssd.pdist(X, "correlation"), rtol=1e-10)
    np.testing.assert_allclose(rl.rdm(X, "euclidean", normalize=True).condensed, ssd.pdist(X) / np.sqrt(5), rtol=1e-10)


@pytest.mark.parametrize("compare", [*PAIR_COMPARATORS, "neg_riemannian"])
def test_comparators_match_rsatoolbox_on_fresh_rdms_with_ties(compare):
    """Fresh stacks of RDMs (squared Euclidean of random patterns), some rounded so that ties occur."""
    g = np.random.default_rng(11)
    A = np.stack([ssd.pdist(g.normal(size=(9, 12)), "sqeuclidean") for _ in range(2)])
    B = np.stack([ssd.pdist(g.normal(size=(9, 12)), "sqeuclidean") for _ in range(3)])
    if not compare.startswith("bures"):  # rounding makes G = -HDH/2 indefinite; Bures needs Euclidean RDMs
        A[1] = np.round(A[1] / 4)  # heavy ties
        B[0] = np.round(B[0])
    got = rl.compare_rdms(A, B, method=compare)
    want = rt_compare(RDMs(A), RDMs(B), method=PEER_NAME.get(compare, compare))
    # Bures: square roots of near-zero eigenvalues of rank-deficient G amplify rounding (LAPACK drivers differ)
    tol = {"neg_riemannian": 1e-4, "bures": 1e-6, "bures_metric_squared": 1e-6}.get(compare, 1e-9)
    np.testing.assert_allclose(got, want, rtol=tol, atol=1e-12)


# --------------------------------------------------------------------------------- properties


def _monotone(v: np.ndarray, kind: int) -> np.ndarray:
    return [np.exp, np.sqrt, lambda x: 3 * x + 7, lambda x: np.log1p(x) ** 3][kind](v)


@pytest.mark.parametrize("compare", ["spearman", "rho_a", "kendall_tau_a", "kendall_tau_b"])
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), kind=st.integers(0, 3), ties=st.booleans())
def test_rank_comparators_invariant_to_monotone_transforms(compare, seed, kind, ties):
    g = np.random.default_rng(seed)
    a = ssd.pdist(g.normal(size=(14, 3)), "sqeuclidean")
    b = a + g.gamma(1.0, size=a.size)
    if ties:
        a, b = np.round(a), np.round(b * 2)
    base = rl.compare_rdms(a, b, method=compare)
    assert rl.compare_rdms(_monotone(a, kind), b, method=compare) == pytest.approx(base, abs=1e-12)
    assert rl.compare_rdms(a, _monotone(b, kind), method=compare) == pytest.approx(base, abs=1e-12)
    assert rl.compare_rdms(b, a, method=compare) == pytest.approx(base, abs=1e-12)  # symmetry
    self_sim = rl.compare_rdms(a, a, method=compare)
    if compare in ("spearman", "kendall_tau_b") or len(np.unique(a)) == a.size:
        assert self_sim == pytest.approx(1.0, abs=1e-12)
    else:  # rho-a and tau-a count ties as neither concordant nor discordant: a tied RDM scores below 1
        assert self_sim < 1.0
    assert -1.0 <= base <= 1.0


@pytest.mark.parametrize(
    "compare", ["cosine", "pearson", "whitened_cosine", "whitened_pearson", "bures", "bures_metric"]
)
def test_comparators_symmetric(compare):
    g = np.random.default_rng(5)
    a, b = (ssd.pdist(g.normal(size=(10, 6)), "sqeuclidean") for _ in range(2))
    assert rl.compare_rdms(a, b, method=compare) == pytest.approx(rl.compare_rdms(b, a, method=compare), rel=1e-9)


def test_tau_a_penalises_tied_models_and_tau_b_does_not():
    a = np.arange(10.0)
    tied = np.repeat([0.0, 1.0], 5)
    assert rl.compare_rdms(a, a, method="kendall_tau_a") == 1.0
    assert rl.compare_rdms(a, tied, method="kendall_tau_a") == pytest.approx(25 / 45)
    assert rl.compare_rdms(a, tied, method="kendall_tau_b") == pytest.approx(25 / np.sqrt(45 * 25))
    assert rl.compare_rdms(a, np.ones(10), method="rho_a") == 0.0


def test_square_and_condensed_forms():
    X = np.random.default_rng(0).normal(size=(8, 3))
    D = rl.rdm(X, "euclidean")
    np.testing.assert_allclose(D.square, ssd.squareform(ssd.pdist(X)), rtol=1e-10)
    assert rl.RDM(D.square).condensed.tolist() == D.condensed.tolist()
    assert D.n_conditions == len(D) == 8 and D.method == "euclidean" and list(D.labels) == list(range(8))
    assert "n_conditions=8" in repr(D)


def test_rsa_equals_compare_rdms_of_rdms_and_transforms():
    g = np.random.default_rng(4)
    X, Y = g.normal(size=(20, 6)), g.normal(size=(20, 4))
    for compare in ("pearson", "kendall_tau_b"):
        for transform, kw in ((None, {}), ("rank", {}), ("geotopological", {"lower": 0.2, "upper": 0.8})):
            want = rl.compare_rdms(
                rl.rdm_transform(rl.rdm(X, "euclidean"), transform, **kw) if transform else rl.rdm(X, "euclidean"),
                rl.rdm_transform(rl.rdm(Y, "euclidean"), transform, **kw) if transform else rl.rdm(Y, "euclidean"),
                method=compare,
            )
            got = rl.measures.rsa(X, Y, rdm="euclidean", compare=compare, transform=transform, **kw)
            assert got == pytest.approx(want, abs=1e-12)
    spec = rl.compare(X, Y, "rsa(rdm=euclidean, compare=pearson, transform=geotopological, lower=0.2, upper=0.8)")
    assert spec == pytest.approx(
        rl.measures.rsa(X, Y, rdm="euclidean", compare="pearson", transform="geotopological", lower=0.2, upper=0.8)
    )


@pytest.mark.parametrize("compare", ["spearman", "kendall_tau_a", "bures"])
def test_compare_all_and_batched_core_agree_with_pairs(compare):
    g = np.random.default_rng(9)
    latent = g.normal(size=(25, 3))
    layers = {f"l{i}": np.tanh(latent @ g.normal(size=(3, 6))) + 0.3 * g.normal(size=(25, 6)) for i in range(4)}
    res = rl.compare_all(layers, None, "rsa", compare=compare)
    assert res.meta["path"] == "all_pairs"  # the engine uses the batched core
    m, p = _registry.resolve("rsa", {"compare": compare})
    states = [m.prepare_one(m.check_input(x, "X", None, None), p) for x in layers.values()]
    batched = rsa_core._core_matrix(states, states, **p)
    names = list(layers)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            want = rl.measures.rsa(layers[a], layers[b], compare=compare)
            # bures is symmetric up to rounding only (compare_all mirrors the upper triangle)
            assert res.values[i, j] == pytest.approx(want, rel=1e-9, abs=1e-12)
            assert batched[i, j] == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_float32_compute():
    g = np.random.default_rng(0)
    X, Y = g.normal(size=(30, 8)).astype(np.float32), g.normal(size=(30, 8)).astype(np.float32)
    want = rl.measures.rsa(X, Y, compare="pearson")
    assert rl.measures.rsa(X, Y, compare="pearson", dtype="float32") == pytest.approx(want, rel=1e-4)


def test_input_rdm_is_not_modified():
    v = np.random.default_rng(0).random(45)
    keep = v.copy()
    for kind, kw in [("minmax", {}), ("geotopological", {"lower": 0.1, "upper": 0.5}), ("rank", {})]:
        rl.rdm_transform(v, kind, **kw)
    D = rl.RDM(v)
    rl.rdm_transform(D, "minmax")
    np.testing.assert_array_equal(v, keep)
    np.testing.assert_array_equal(D.condensed, keep)


def test_registry_entry():
    info = rl.measures.info("rsa")
    assert info.family == "rsa" and info.symmetric and not info.is_metric
    assert info.params["compare"].default == "spearman" and info.params["rdm"].default == "correlation"
    assert any("rsatoolbox" in r for r in info.references)


# ------------------------------------------------------------------------------------- errors


def test_error_rdm_sizes_differ():
    with pytest.raises(ReprlabError, match="different sizes: 5 and 6 conditions"):
        rl.compare_rdms(np.arange(10.0), np.arange(15.0))
    with pytest.raises(ReprlabError, match="not n\\(n-1\\)/2"):
        rl.compare_rdms(np.arange(11.0), np.arange(11.0))
    with pytest.raises(ReprlabError, match="same rows"):
        rl.measures.rsa(np.ones((5, 2)), np.ones((6, 2)))


@pytest.mark.parametrize("lower, upper", [(-0.1, 0.5), (0.2, 1.5), (None, 0.5)])
def test_error_geotopological_bounds(lower, upper):
    with pytest.raises(ReprlabError, match=r"\[0, 1\]"):
        rl.rdm_transform(np.arange(10.0), "geotopological", lower=lower, upper=upper)


def test_error_geotopological_bounds_in_rsa_and_order():
    X = np.random.default_rng(0).normal(size=(8, 3))
    with pytest.raises(ReprlabError, match="must be a quantile in \\[0, 1\\]"):
        rl.measures.rsa(X, X, transform="geotopological", lower=0.1, upper=2.0)
    with pytest.raises(ReprlabError, match="must not exceed"):
        rl.rdm_transform(np.arange(10.0), "geotopological", lower=0.8, upper=0.2)


def test_error_crossnobis_needs_runs():
    z = oracle_case(DATASET)
    with pytest.raises(ReprlabError, match=r"pass `conditions`.*and `runs`"):
        rl.rdm(z["data"], "crossnobis", conditions=z["conds"])
    with pytest.raises(ReprlabError, match="at least 2 distinct runs"):
        rl.rdm(z["data"], "crossnobis", conditions=z["conds"], runs=np.zeros(48))
    runs = z["runs"].copy()
    runs[z["conds"] == "c03"] = "run1"  # c03 only in one run
    with pytest.raises(ReprlabError, match="Condition 'c03' has no rows in run 'run0'"):
        rl.rdm(z["data"], "crossnobis", conditions=z["conds"], runs=runs)
    with pytest.raises(ReprlabError, match="`runs` is used only by"):
        rl.rdm(z["data"], "correlation", runs=z["runs"])
    with pytest.raises(ReprlabError, match="has 3 entries"):
        rl.rdm(z["data"], "crossnobis", conditions=z["conds"], runs=["a", "b", "c"])


def test_error_noise():
    X = np.random.default_rng(0).normal(size=(8, 3))
    with pytest.raises(ReprlabError, match="needs `noise`"):
        rl.rdm(X, "mahalanobis")
    with pytest.raises(ReprlabError, match=r"must be the \(3, 3\) noise precision"):
        rl.rdm(X, "mahalanobis", noise=np.eye(4))
    with pytest.raises(ReprlabError, match="symmetric"):
        rl.rdm(X, "mahalanobis", noise=np.triu(np.ones((3, 3))))
    with pytest.raises(ReprlabError, match="used only by mahalanobis and crossnobis"):
        rl.rdm(X, "euclidean", noise=np.eye(3))


@pytest.mark.parametrize("compare", ["spearman", "pearson", "kendall_tau_b", "whitened_pearson"])
def test_error_constant_rdm_for_correlation_comparators(compare):
    with pytest.raises(ReprlabError, match="constant"):
        rl.compare_rdms(np.arange(10.0), np.full(10, 2.0), method=compare)


def test_error_constant_representation_and_patterns():
    X = np.ones((6, 4))
    with pytest.raises(ReprlabError, match="constant"):
        rl.measures.rsa(X, X, rdm="euclidean")  # every distance 0
    Y = np.random.default_rng(0).normal(size=(6, 4))
    Y[2] = 5.0
    with pytest.raises(ReprlabError, match="condition 2 is constant across features"):
        rl.rdm(Y, "correlation")
    with pytest.raises(ReprlabError, match="all zero"):
        rl.rdm(np.zeros((3, 2)), "cosine")


def test_error_bad_names_and_inputs():
    with pytest.raises(ReprlabError, match=r"Unknown RDM comparator 'spearmann'.*Did you mean 'spearman'"):
        rl.compare_rdms(np.arange(10.0), np.arange(10.0), method="spearmann")
    with pytest.raises(ReprlabError, match="Unknown RDM method 'corelation'"):
        rl.rdm(np.ones((4, 2)), "corelation")
    with pytest.raises(ReprlabError, match="Unknown RDM transform 'geodesics'"):
        rl.rdm_transform(np.arange(10.0), "geodesics")
    with pytest.raises(ReprlabError, match="must be one of"):
        rl.measures.rsa(np.ones((4, 2)), np.ones((4, 2)), compare="tau")
    with pytest.raises(ReprlabTypeError, match="must be an RDM"):
        rl.compare_rdms("abc", np.arange(3.0))
    with pytest.raises(ReprlabError, match="NaN"):
        rl.compare_rdms(np.array([1.0, np.nan, 2.0]), np.arange(3.0))
    with pytest.raises(ReprlabError, match="symmetric with a zero diagonal"):
        rl.RDM(np.ones((3, 3)))
    with pytest.raises(ReprlabError, match="non-negative counts"):
        rl.rdm(-np.ones((4, 2)), "poisson")
    with pytest.raises(ReprlabError, match="min-max scaling"):
        rl.rdm_transform(np.ones(10), "minmax")
    with pytest.raises(ReprlabError, match="`rank_method` must be one of"):
        rl.rdm_transform(np.arange(10.0), "rank", rank_method="mean")
    with pytest.raises(ReprlabError, match="at least 2 conditions"):
        rl.rdm(np.ones((3, 2)), conditions=["a", "a", "a"])


def test_error_bures_and_riemannian_degenerate():
    with pytest.raises(ReprlabError, match="trace"):
        rl.compare_rdms(-np.arange(1.0, 11.0), np.arange(1.0, 11.0), method="bures")
    flat = ssd.pdist(np.random.default_rng(0).normal(size=(6, 2)), "sqeuclidean")  # rank 2 < 5 contrasts
    with pytest.raises(ReprlabError, match="positive-definite"):
        rl.compare_rdms(flat, flat, method="riemannian")


def test_copy_of_state_is_independent():
    """Prepared states are plain data (the engine may cache or copy them)."""
    st_ = rsa_mod.prepare_rdms(rl.RDM(np.arange(10.0)).tensor[None], 5, "kendall_tau_a")
    dup = copy.deepcopy(st_)
    assert float(rsa_mod.compare_states(st_, dup)[0, 0]) == 1.0


def test_batched_core_keeps_asymmetric_riemannian_unmirrored():
    g = np.random.default_rng(6)
    layers = [g.normal(size=(7, 10)) for _ in range(3)]
    m, p = _registry.resolve("rsa", {"rdm": "sqeuclidean", "compare": "riemannian"})
    states = [m.prepare_one(m.check_input(x, "X", None, None), p) for x in layers]
    got = rsa_core._core_matrix(states, states, **p)
    for i in range(3):
        for j in range(3):
            want = rl.measures.rsa(layers[i], layers[j], rdm="sqeuclidean", compare="riemannian")
            assert got[i, j] == pytest.approx(want, rel=1e-9)
    assert got[0, 1] != pytest.approx(got[1, 0], rel=1e-9)
