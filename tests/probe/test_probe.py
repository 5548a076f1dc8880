"""rl.probe: parity with scikit-learn, leakage, controls, sparse probes and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError, ReprlabTypeError

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.model_selection import GroupKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def _data(n=240, d=12, k=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    logits = X[:, :k] @ rng.normal(size=(k, k)) * 1.5
    y = np.argmax(logits + rng.gumbel(size=(n, k)), axis=1) if k > 2 else (X[:, 0] + 0.8 * rng.normal(size=n) > 0)
    return X, y.astype(int), np.arange(n) // 4


@pytest.mark.parametrize("k", [2, 4])
def test_logistic_fixed_C_equals_sklearn_groupkfold(k):
    X, y, g = _data(k=k)
    splits = list(GroupKFold(5).split(X, y, g))
    r = rl.probe(X, y, "logistic", cv=splits, groups=g, C=0.5, n_permutations=0, n_boot=0)
    ref = np.zeros((len(y), k))
    for tr, te in splits:
        m = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, tol=1e-12, max_iter=100_000)).fit(X[tr], y[tr])
        ref[te] = m.predict_proba(X[te])
    assert np.abs(r.proba - ref).max() < 1e-6
    assert np.array_equal(r.predictions, ref.argmax(1))


def test_ridge_fixed_alpha_equals_sklearn_groupkfold():
    X, _, g = _data()
    y = X[:, 0] - 0.5 * X[:, 3] + np.random.default_rng(1).normal(size=len(X))
    splits = list(GroupKFold(5).split(X, y, g))
    r = rl.probe(X, y, "ridge", cv=splits, groups=g, alpha=3.0, n_permutations=0, n_boot=0)
    ref = np.zeros(len(y))
    for tr, te in splits:
        ref[te] = make_pipeline(StandardScaler(), Ridge(alpha=3.0)).fit(X[tr], y[tr]).predict(X[te])
    assert np.abs(r.predictions - ref).max() < 1e-6


def test_inner_search_uses_training_folds_only():
    # The regularisation chosen for a fold must not change when the labels of that fold's TEST rows change.
    X, y, g = _data(n=200, seed=3)
    r1 = rl.probe(X, y, groups=g, n_permutations=0, n_boot=0)
    y2 = y.copy()
    test0 = r1.folds == 0
    y2[test0] = 1 - y2[test0]
    splits = [(np.flatnonzero(r1.folds != f), np.flatnonzero(r1.folds == f)) for f in range(5)]
    r2 = rl.probe(X, y2, cv=splits, groups=g, n_permutations=0, n_boot=0)
    assert r1.chosen[0] == r2.chosen[0]
    assert np.allclose(r1.proba[test0], r2.proba[test0])  # fold 0's model saw none of its test labels


def _tokens(n_sent=200, seed=0):
    """Tokens of sentences: each token = its sentence's vector + small noise; a random bit per sentence."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 12, n_sent)
    sent = rng.normal(size=(n_sent, 128))
    g = np.repeat(np.arange(n_sent), lengths)
    X = sent[g] + 0.3 * rng.normal(size=(len(g), 128))
    bit = rng.integers(0, 2, n_sent)
    return X, bit[g], g


def test_planted_leak_grouped_vs_rowwise():
    # One draw of 200 random sentence bits has a score with SD ~0.035 (200 independent units), so both
    # scores are checked as the mean of 5 independent draws (SD ~0.016).
    grouped, rowwise = [], []
    for seed in range(5):
        X, y, g = _tokens(seed=seed)
        grouped.append(rl.probe(X, y, groups=g, C=10.0, n_permutations=0, n_boot=0).score)
        rowwise.append(rl.probe(X, y, groups=None, C=10.0, n_permutations=0, n_boot=0).score)  # wrong on purpose
    assert abs(np.mean(grouped) - 0.5) <= 0.05
    assert np.mean(rowwise) > 0.8


def test_permutation_p_and_bootstrap_interval():
    X, y, g = _data(n=200)
    r = rl.probe(X, y, groups=g, C=1.0, n_permutations=99, seed=1)
    assert r.p_value == pytest.approx(1 / 100)  # Phipson-Smyth: (1 + 0) / (1 + 99), never 0
    assert r.ci_low < r.score < r.ci_high
    rng = np.random.default_rng(5)
    null = rl.probe(rng.normal(size=X.shape), y, groups=g, C=1.0, n_permutations=99, permutation="predictions")
    assert null.p_value > 0.05
    assert null.ci_low < 0.5 < null.ci_high


def test_control_task_on_gaussian_matrix_has_no_selectivity():
    rng = np.random.default_rng(0)
    n, d = 6000, 384  # a token store's width (MiniLM)
    words = rng.zipf(1.6, n) % 400  # word types with a Zipf-like frequency
    tag_of_type = rng.integers(0, 5, 400)
    y = tag_of_type[words]
    g = np.arange(n) // 12  # 500 "sentences"
    X = rng.normal(size=(n, d))
    r = rl.probe(X, y, groups=g, C=0.01, control="task", types=words, n_permutations=0, n_boot=0)
    assert abs(r.selectivity) < 0.02
    assert r.control_result.score == pytest.approx(r.control_score)


def test_control_labels_keep_distribution_and_types():
    rng = np.random.default_rng(0)
    types = rng.integers(0, 300, 5000)
    labels = np.array(["NOUN", "VERB", "DET"])[rng.choice(3, 5000, p=[0.5, 0.3, 0.2])]
    c = rl.control_labels(types, labels, seed=1)
    for t in np.unique(types):  # one label per type
        assert len(set(c[types == t])) == 1
    freq = {v: np.mean(c == v) for v in ("NOUN", "VERB", "DET")}
    assert abs(freq["NOUN"] - 0.5) < 0.1 and abs(freq["DET"] - 0.2) < 0.1
    assert not np.array_equal(c, rl.control_labels(types, labels, seed=2))


def test_selectivity_positive_for_real_structure():
    rng = np.random.default_rng(2)
    n = 1200
    types = rng.integers(0, 150, n)
    y = (types % 3 == 0).astype(int)
    X = rng.normal(size=(n, 8))
    X[:, 0] += 2.0 * y  # the property is linearly present
    r = rl.probe(X, y, groups=np.arange(n) // 6, C=1.0, control="task", types=types, n_permutations=0, n_boot=0)
    assert r.selectivity > 0.2


@pytest.mark.parametrize("seed", range(20))
def test_k_sparse_finds_planted_unit(seed):
    rng = np.random.default_rng(seed)
    n, d = 200, 512
    X = rng.normal(size=(n, d))
    y = rng.integers(0, 2, n)
    unit = int(rng.integers(d))
    X[:, unit] += 1.5 * (2 * y - 1)
    r = rl.probe(X, y, k_sparse=1, C=1.0, n_permutations=0, n_boot=0, seed=seed)
    assert all(list(u) == [unit] for u in r.units)
    assert np.flatnonzero(r.direction).tolist() == [unit]


def test_direction_is_the_all_rows_fit_at_the_most_chosen_C():
    # with C searched, the direction is the fit on all rows at the C chosen for most folds (solved in the
    # folds' refit problem set), in X's units
    X, y, g = _data()
    r = rl.probe(X, y, groups=g, C=[0.01, 0.1, 1.0], n_permutations=0, n_boot=0)
    values, counts = np.unique(r.chosen, return_counts=True)
    C = float(values[np.argmax(counts)])
    m = make_pipeline(StandardScaler(), LogisticRegression(C=C, tol=1e-12, max_iter=100_000)).fit(X, y)
    w = m[-1].coef_[0] / m[0].scale_
    assert np.abs(r.coef - w).max() < 1e-6 * np.abs(w).max()
    assert np.abs(r.direction - w / np.linalg.norm(w)).max() < 1e-6


def test_sparse_sweep_and_direction():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20))
    y = (X[:, 4] - X[:, 7] > 0).astype(int)
    sweep = rl.probe.sparse_sweep(X, y, ks=[1, 2, 8], C=1.0, n_boot=0)
    assert sweep[2].score > sweep[1].score and sweep[2].score > 0.9
    r = rl.probe(X, y, C=10.0, n_permutations=0, n_boot=0)
    assert np.linalg.norm(r.direction) == pytest.approx(1.0)
    assert r.direction[4] > 0.5 and r.direction[7] < -0.5  # points towards class 1


def test_mlp_probe_learns_xor_that_logistic_cannot():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)
    lin = rl.probe(X, y, C=1.0, n_permutations=0, n_boot=0)
    mlp = rl.probe(X, y, "mlp", n_permutations=0, n_boot=0)
    assert lin.score < 0.65 and mlp.score > 0.85


def test_probe_layers_bh_and_store_groups(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 120)
    acts = {"a": rng.normal(size=(120, 6)), "b": rng.normal(size=(120, 6)) + 2.0 * y[:, None]}
    res = rl.probe_layers(acts, y, C=1.0, n_permutations=49)
    assert list(res) == ["a", "b"]
    assert res["b"].p_value < 0.05 < res["a"].p_value
    from reprlab.stats.bootstrap import fdr_bh

    assert [r.p_adjusted for r in res.values()] == pytest.approx(list(fdr_bh([r.p_value for r in res.values()])[0]))
    assert res["b"].layer == "b"


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "y, groups, match",
    [
        (np.zeros(40, dtype=int), None, "single class"),
        (np.r_[np.zeros(37, dtype=int), np.ones(3, dtype=int)], None, "fewer members"),
        (np.tile([0, 1], 20), np.arange(40) % 3, "fold would be empty|at least one fold"),
        (np.r_[np.full(39, 1.0), np.nan], None, "NaN"),
        (np.tile([0, 1], 19), None, "38 entries but X has 40 rows"),
    ],
)
def test_bad_labels_and_groups(y, groups, match):
    X = np.random.default_rng(0).normal(size=(40, 3))
    with pytest.raises(ReprlabError, match=match):
        rl.probe(X, y, groups=groups, n_permutations=0)


def test_bad_arguments():
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.tile([0, 1], 20)
    with pytest.raises(ReprlabError, match="kind"):
        rl.probe(X, y, "svm")
    with pytest.raises(ReprlabError, match="types"):
        rl.probe(X, y, control="task")
    with pytest.raises(ReprlabError, match="k_sparse"):
        rl.probe(X, y, k_sparse=10)
    with pytest.raises(ReprlabError, match="alpha"):
        rl.probe(X, y, C=None, alpha=1.0)
    with pytest.raises(ReprlabError, match="C"):
        rl.probe(X, y, C=-1.0)
    with pytest.raises(ReprlabError, match="cv"):
        rl.probe(X, y, cv=1)
    with pytest.raises(ReprlabTypeError):
        rl.probe_layers(X, y)
    with pytest.raises(ReprlabError, match="groups"):
        rl.probe(X, y, groups=np.arange(39))


@pytest.mark.parametrize("k", [2, 3])
def test_probe_layers_one_problem_set_equals_probe_per_layer(k):
    # probe_layers solves the layers of one shape as one problem set; each result must equal rl.probe
    # on that layer alone (folds, inner search, permutations, control, direction).
    rng = np.random.default_rng(3)
    n = 150
    y = rng.integers(0, k, n)
    acts = {
        "a": rng.normal(size=(n, 8)) + 0.8 * np.eye(k)[y] @ rng.normal(size=(k, 8)),
        "b": rng.normal(size=(n, 8)),
        "c": rng.normal(size=(n, 5)) + 0.5 * y[:, None],  # another width: its own problem set
    }
    kw = dict(C=[0.1, 1.0], n_permutations=4, n_boot=50, control="shuffle", groups=np.arange(n) // 3)
    res = rl.probe_layers(acts, y, **kw)
    assert list(res) == ["a", "b", "c"]
    for name, X in acts.items():
        r = rl.probe(X, y, **kw)
        got = res[name]
        assert np.abs(got.proba - r.proba).max() < 1e-8
        assert got.chosen == r.chosen and got.score == pytest.approx(r.score)
        assert np.allclose(got.null, r.null) and got.p_value == pytest.approx(r.p_value)
        assert (got.ci_low, got.ci_high) == pytest.approx((r.ci_low, r.ci_high))
        assert got.control_score == pytest.approx(r.control_score, abs=1e-12)
        if k == 2:
            assert np.abs(got.direction - r.direction).max() < 1e-6
        else:
            assert got.direction is None and r.direction is None
