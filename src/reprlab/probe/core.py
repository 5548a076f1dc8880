"""``rl.probe`` and ``rl.probe_layers``: cross-validated probes that cannot leak across a split.

What a probe score means here
-----------------------------
* **Folds never split a group.** ``groups`` gives a group per row (for a token-level store: the
  stimulus of each token, the default of :func:`probe_layers`), and every row of a group lands in the
  same test fold. Splitting rows instead lets a probe recognise the sentence rather than the property:
  tokens of 200 sentences labelled with one random bit per sentence score about 0.5 with grouped
  folds and well above 0.8 with row-wise folds (``groups=None`` on token rows, which is wrong).
* **Everything learned is learned on the training folds.** The standardisation of the units, the
  regularisation chosen by inner cross-validation (``C`` for ``"logistic"``, ``alpha`` for
  ``"ridge"``, over grouped inner folds of the outer training rows), and for ``k_sparse`` the ranking
  of the units, are all fitted on the outer training rows only.
* **Score**: balanced accuracy (mean recall over classes) of the out-of-fold predictions for
  classifiers; out-of-fold R^2 ``1 - sum (y - yhat)^2 / sum (y - mean y)^2`` for ``"ridge"``.
* **Interval**: percentile bootstrap over groups (groups resampled with replacement, the score
  recomputed from the out-of-fold predictions; the probes are not refitted).
* **p-value**: permutation test (Ojala & Garriga 2010, JMLR 11:1833), ``p = (1 + #{null >= score}) /
  (1 + n_permutations)`` (Phipson & Smyth 2010, SAGMB 9:39). Labels are permuted across whole groups
  when they are constant within groups (else across rows). ``permutation="refit"`` reruns the whole
  cross-validation on every permuted label vector, at the regularisation chosen for each fold on the
  real labels (re-choosing it per permutation would cost the inner search again per permutation);
  ``permutation="predictions"`` permutes the labels within each test fold against the fixed
  out-of-fold predictions, a valid test of the same null (labels independent of X, rows or groups
  exchangeable) at no refit cost, for large token-level sets.
* **Controls**: ``control="task"`` (Hewitt & Liang 2019: a random label per word type, ``types``
  required, see :func:`reprlab.probe.control_labels`), ``"shuffle"`` (the labels permuted over groups)
  or ``"random"`` (a Gaussian matrix of X's shape: what the probe gets from no representation). The
  same probe, with the same folds and the same search, is run on the control;
  ``selectivity = score - control_score``.

Engines: logistic and ridge probes and the MLP fit every fold, inner fold, regularisation value and
permutation of a layer in one batched torch problem (:mod:`reprlab.probe._solvers`); with a fixed
``C`` the out-of-fold probabilities equal scikit-learn's ``make_pipeline(StandardScaler(),
LogisticRegression(C=C))`` fold by fold (to the solvers' tolerance, about 1e-7), and ridge equals
``make_pipeline(StandardScaler(), Ridge(alpha))``. :func:`probe_layers` stacks the layers of one
shape and one grouping and solves the logistic probes of all of them (every layer x fold, inner fold,
value, permutation, and the all-rows fit behind ``direction``) as one problem set; each layer's result
equals :func:`probe` on that layer alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validation import as_tensor, check_int
from ..errors import ReprlabError, ReprlabTypeError
from . import _folds
from ._mlp import fit_predict_mlp
from ._solvers import fit_logistic, fit_ridge
from .result import CONTROLS, ProbeResult, _check_choice

KINDS = ("logistic", "ridge", "mlp", "mdl")
PERMUTATIONS = ("refit", "predictions")
#: Default search grids (inner grouped CV on the outer training rows).
DEFAULT_CS = tuple(float(c) for c in np.logspace(-3, 2, 6))
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-1, 5, 7))
_BUDGET = 6_000_000  # elements of one (layers x problems x rows x classes) tensor in a batch
_LAYER_BATCH_ELEMENTS = 1 << 26  # elements of the layer matrices stacked into one problem set


def balanced_accuracy(codes: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Mean over the classes present of the share of their rows predicted correctly."""
    total = np.bincount(codes, minlength=n_classes)
    hit = np.bincount(codes[pred == codes], minlength=n_classes)
    present = total > 0
    return float(np.mean(hit[present] / total[present]))


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - pred) ** 2).sum()) / ss_tot


def _bootstrap(task: _Task, pred: np.ndarray, n_boot: int, ci: float, seed: int) -> tuple[float, float]:
    """Percentile interval of the score over groups resampled with replacement."""
    G = int(task.groups.max()) + 1
    rng = np.random.default_rng([seed, 7])
    w = rng.multinomial(G, np.full(G, 1.0 / G), size=n_boot).astype(np.float64)  # (B, G) group counts
    g = task.groups
    if task.classes is not None:
        K = task.classes.size
        tot = np.zeros((G, K))
        hit = np.zeros((G, K))
        np.add.at(tot, (g, task.codes), 1.0)
        np.add.at(hit, (g, task.codes), (pred == task.codes).astype(np.float64))
        T, H = w @ tot, w @ hit
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = np.nanmean(np.where(T > 0, H / T, np.nan), axis=1)
    else:
        y = task.target
        stats = np.zeros((G, 4))
        np.add.at(stats, g, np.stack([np.ones_like(y), y, y * y, (y - pred) ** 2], axis=1))
        S = w @ stats
        ss_tot = S[:, 2] - S[:, 1] ** 2 / S[:, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = 1.0 - S[:, 3] / ss_tot
        scores = scores[np.isfinite(scores)]
    lo, hi = np.quantile(scores, [(1 - ci) / 2, (1 + ci) / 2])
    return float(lo), float(hi)


def phipson_smyth(score: float, null: np.ndarray) -> float:
    """``(1 + #{null >= score}) / (1 + len(null))`` (Phipson & Smyth 2010): never 0, exact for Monte Carlo."""
    tol = 1e-12 * max(1.0, abs(score))
    return float((1.0 + np.sum(null >= score - tol)) / (1.0 + null.shape[0]))


# --------------------------------------------------------------------------------------------------
# the problem


@dataclass
class _Task:
    X: torch.Tensor
    kind: str
    groups: np.ndarray
    folds: np.ndarray
    n_folds: int
    codes: np.ndarray | None  # class codes (classifiers)
    classes: np.ndarray | None
    target: np.ndarray | None  # real target (ridge)
    grid: tuple[float, ...] | None  # C or alpha values searched; None: fixed
    fixed: float | None
    inner_cv: int
    seed: int
    hidden: int
    steps: int

    @property
    def n_classes(self) -> int:
        return 0 if self.classes is None else int(self.classes.size)

    def labels(self) -> np.ndarray:
        return self.codes if self.classes is not None else self.target


def _chunks(n_problems: int, per_problem: int) -> list[slice]:
    size = max(1, _BUDGET // max(1, per_problem))
    return [slice(a, min(a + size, n_problems)) for a in range(0, n_problems, size)]


def _fit_outputs(
    task: _Task, X: torch.Tensor, labels: np.ndarray, masks: np.ndarray, reg: np.ndarray, coef: bool = False,
    exact: bool = True,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Every row's output for each layer and problem: (L, P, n, K) probabilities or (L, P, n) values.

    ``X`` is (L, n, d): the same P problems (``masks``, ``labels`` (P, n)) on every layer, with a
    regularisation value per layer and problem (``reg`` (L, P)); the linear probes of all layers are
    one problem set. ``coef``: also return the fitted coefficients in X's units, (L, P, d) (binary
    logistic and ridge). ``exact=False`` (the inner search, which uses only the predicted classes):
    the logistic solver's gradient tolerance is not tightened for large C.
    """
    L, n, _ = X.shape
    P = masks.shape[0]
    reg = np.array(np.broadcast_to(np.asarray(reg, dtype=np.float64), (L, P)))
    dt, dev = X.dtype, X.device
    K = max(task.n_classes, 1)
    outs, coefs = [], []
    for sl in _chunks(P, L * n * K):
        Pc = sl.stop - sl.start
        m = torch.as_tensor(np.tile(masks[sl], (L, 1)), dtype=dt, device=dev)  # (L * Pc, n), layer-major
        r = reg[:, sl]
        lab = np.tile(labels[sl], (L, 1))
        if task.kind in ("logistic", "mdl"):
            fit = fit_logistic(X, torch.as_tensor(lab, device=dev), m, torch.as_tensor(r.reshape(-1), dtype=dt,
                               device=dev), task.n_classes, tol_per_C=exact)
            outs.append(fit.proba(X).reshape(L, Pc, n, K).cpu().numpy())
            if coef:
                coefs.append(fit.directions()[..., 0].reshape(L, Pc, -1).cpu().numpy())
        elif task.kind == "ridge":
            t = torch.as_tensor(lab, dtype=dt, device=dev)
            out = np.empty((L * Pc, n))
            cf = np.empty((L * Pc, X.shape[2]))
            flat = r.reshape(-1)
            for alpha in np.unique(flat):  # one closed-form batch per distinct alpha
                idx = np.flatnonzero(flat == alpha)
                for li in np.unique(idx // Pc):
                    j = idx[idx // Pc == li]
                    f = fit_ridge(X[li], t[j], m[j], torch.tensor([alpha], dtype=dt, device=dev))
                    out[j] = f.predict(X[li])[:, 0].cpu().numpy()
                    cf[j] = f.coef[:, 0].cpu().numpy()
            outs.append(out.reshape(L, Pc, n))
            coefs.append(cf.reshape(L, Pc, -1))
        else:  # mlp: one batch per layer
            per_layer = []
            for li in range(L):
                tl = torch.as_tensor(labels[sl], device=dev)
                if task.classes is None:
                    tl = tl.to(dt)
                o = fit_predict_mlp(X[li], tl, m[li * Pc:(li + 1) * Pc], task.n_classes or None, hidden=task.hidden,
                                    steps=task.steps, weight_decay=float(r[li, 0]), seed=task.seed)
                per_layer.append(o.cpu().numpy())
            outs.append(np.stack(per_layer))
    out = np.concatenate(outs, axis=1)
    return (out, np.concatenate(coefs, axis=1)) if coef else out


def _inner_score(task: _Task, out: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> float:
    if task.classes is not None:
        return balanced_accuracy(labels[rows], out[rows].argmax(-1), task.n_classes)
    y = labels[rows]
    if np.ptp(y) == 0:
        return -np.inf
    return r2(y, out[rows])


def _choose(task: _Task, X: torch.Tensor, labels: np.ndarray, todo: Sequence[int]) -> list[dict[int, float]]:
    """Per layer of ``X`` (L, n, d) and outer fold: the regularisation value with the best mean inner-CV
    score (ties: the first)."""
    L = X.shape[0]
    if task.grid is None:
        return [{f: float(task.fixed) for f in todo} for _ in range(L)]
    grid = np.asarray(task.grid, dtype=np.float64)
    problems = []
    for f in todo:
        train = np.flatnonzero(task.folds != f)
        sub = np.unique(task.groups[train], return_inverse=True)[1].reshape(-1)
        k = min(task.inner_cv, int(sub.max()) + 1)
        inner = np.full(task.folds.shape[0], -1)
        strata = labels[train] if task.classes is not None else None
        inner[train] = _folds.assign_folds(sub, k, task.seed + 1 + f, strata)
        for g in range(k):
            for c in range(grid.size):
                problems.append((inner, f, g, c))
    n = task.folds.shape[0]
    masks = np.zeros((len(problems), n))
    for i, (inner, _f, g, _c) in enumerate(problems):
        masks[i] = (inner >= 0) & (inner != g)
    reg = np.array([grid[c] for (_i, _f, _g, c) in problems])
    lab = np.repeat(labels[None], len(problems), axis=0)
    out = _fit_outputs(task, X, lab, masks, np.tile(reg, (L, 1)), exact=False)
    chosen = []
    for li in range(L):
        scores: dict[tuple[int, int], list[float]] = {}
        for i, (inner, f, g, c) in enumerate(problems):
            scores.setdefault((f, c), []).append(_inner_score(task, out[li, i], labels, np.flatnonzero(inner == g)))
        ch = {}
        for f in todo:
            means = [np.mean(scores[(f, c)]) for c in range(grid.size)]
            ch[f] = float(grid[int(np.argmax(means))])
        chosen.append(ch)
    return chosen


def _cross_validate(
    task: _Task, X: torch.Tensor, label_sets: np.ndarray, chosen: list[dict[int, float]], todo: Sequence[int],
    full: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Out-of-fold outputs of the rows of the folds in ``todo`` per layer and label set (L, S, n[, K]).

    ``full`` (L,): also fit every layer on all rows with the first label set at this value, in the same
    problem set, and return its coefficients (L, d) too.
    """
    S, n = label_sets.shape
    L = X.shape[0]
    todo = list(todo)
    P = S * len(todo)
    masks = np.zeros((P + (full is not None), n))
    reg = np.zeros((L, P + (full is not None)))
    for li in range(S):
        for j, f in enumerate(todo):
            masks[li * len(todo) + j] = task.folds != f
            reg[:, li * len(todo) + j] = [chosen[layer][f] for layer in range(L)]
    lab = np.repeat(label_sets, len(todo), axis=0)
    if full is not None:
        masks[P] = 1.0
        reg[:, P] = full
        lab = np.concatenate([lab, label_sets[:1]])
        out, coefs = _fit_outputs(task, X, lab, masks, reg, coef=True)
    else:
        out = _fit_outputs(task, X, lab, masks, reg)
    shape = (L, S, n) if task.classes is None else (L, S, n, task.n_classes)
    oof = np.zeros(shape)
    for li in range(S):
        for j, f in enumerate(todo):
            rows = task.folds == f
            oof[:, li, rows] = out[:, li * len(todo) + j, rows]
    return (oof, coefs[:, P]) if full is not None else oof


def _rank_units(task: _Task, X: np.ndarray, labels: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Gurnee et al. (2023): units ranked on the training rows by a univariate statistic.

    Two classes: ``|mean_1 - mean_0| / pooled SD``; more classes: the one-way ANOVA F; a real target:
    ``|Pearson r|``. Returns the top ``k`` unit indices (ties: the lower index).
    """
    Xr, yr = X[rows], labels[rows]
    if task.classes is None:
        xc = Xr - Xr.mean(0)
        yc = yr - yr.mean()
        stat = np.abs(xc.T @ yc) / np.maximum(np.sqrt((xc * xc).sum(0) * (yc @ yc)), 1e-300)
    else:
        K = task.n_classes
        means = np.stack([Xr[yr == c].mean(0) for c in range(K)])
        counts = np.bincount(yr, minlength=K).astype(np.float64)
        grand = Xr.mean(0)
        between = (counts[:, None] * (means - grand) ** 2).sum(0) / max(K - 1, 1)
        within = sum(((Xr[yr == c] - means[c]) ** 2).sum(0) for c in range(K)) / max(Xr.shape[0] - K, 1)
        stat = between / np.maximum(within, 1e-300)
        if K == 2:  # the same order as |mean difference| / pooled SD
            stat = np.sqrt(stat)
    return np.argsort(-stat, kind="stable")[:k]


def _oof(
    task: _Task, X: torch.Tensor, label_sets: np.ndarray, k_sparse: int | None, full: bool = False
) -> tuple[np.ndarray, list[list[float]], list, np.ndarray | None]:
    """Out-of-fold outputs (L, S, n[, K]) of each layer of ``X`` (L, n, d) for each label set; the first
    label set chooses the regularisation. Returns them with the chosen values and the units (k_sparse)
    per layer, and, when ``full``, the coefficients (L, d) of each layer's fit on all rows at the value
    chosen for most folds, solved in the same problem set as the folds' refit."""
    folds = list(range(task.n_folds))
    L = X.shape[0]
    if k_sparse is None:
        chosen = [[ch[f] for f in folds] for ch in _choose(task, X, label_sets[0], folds)]
        by_fold = [dict(enumerate(ch)) for ch in chosen]
        if full:
            values = np.array([_most_chosen(ch) for ch in chosen])
            out, coefs = _cross_validate(task, X, label_sets, by_fold, folds, full=values)
            return out, chosen, [None] * L, coefs
        return _cross_validate(task, X, label_sets, by_fold, folds), chosen, [None] * L, None
    outs, chosen_layers, units_layers = [], [], []
    for layer in range(L):
        Xl = X[layer]
        Xnp = Xl.cpu().numpy()
        results, chosen_all, units_all = [], [], []
        for li in range(label_sets.shape[0]):
            parts, units = [], []
            for f in folds:
                train = np.flatnonzero(task.folds != f)
                u = _rank_units(task, Xnp, label_sets[li], train, k_sparse)
                units.append(u)
                Xf = Xl[:, torch.as_tensor(u, device=Xl.device)].unsqueeze(0)
                ch = _choose(task, Xf, label_sets[li], [f])[0] if li == 0 else {f: chosen_all[f]}
                if li == 0:
                    chosen_all.append(ch[f])
                parts.append(_cross_validate(task, Xf, label_sets[li : li + 1], [ch], [f])[0])
            results.append(sum(parts))
            if li == 0:
                units_all = units
        outs.append(np.concatenate(results))
        chosen_layers.append(chosen_all)
        units_layers.append(units_all)
    return np.stack(outs), chosen_layers, units_layers, None


def _score_outputs(task: _Task, out: np.ndarray, labels: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    labels = task.labels() if labels is None else labels
    if task.classes is not None:
        pred = out.argmax(-1)
        return balanced_accuracy(labels, pred, task.n_classes), pred
    return r2(labels, out), out


# --------------------------------------------------------------------------------------------------
# the public functions


def _check_grid(values: Any, name: str) -> tuple[float, ...]:
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ReprlabError(f"`{name}` must be one positive number or a non-empty list of them; got {values!r}.")
    return tuple(float(v) for v in arr)


def probe(
    X: Any,
    y: Any,
    kind: str = "logistic",
    cv: int | Sequence[tuple[Any, Any]] = 5,
    groups: Any = None,
    C: float | Sequence[float] | None = None,
    seed: int = 0,
    *,
    alpha: float | Sequence[float] | None = None,
    control: str | None = None,
    types: Any = None,
    k_sparse: int | None = None,
    n_permutations: int = 100,
    permutation: str = "refit",
    n_boot: int = 1000,
    ci: float = 0.95,
    inner_cv: int = 3,
    hidden: int = 64,
    steps: int = 300,
    dtype: Any = None,
    device: Any = None,
) -> ProbeResult:
    """Cross-validated probe of ``y`` from the representation ``X`` (rows: stimuli or tokens).

    Parameters
    ----------
    X : array (n, d)
    y : array (n,)
        Class labels (``"logistic"``, ``"mlp"``, ``"mdl"``) or a real target (``"ridge"``; ``"mlp"`` with
        a float target regresses). NaN labels, one class, a class with fewer rows than folds, and a
        length other than ``n`` raise.
    kind : "logistic" | "ridge" | "mlp" | "mdl"
        ``"mdl"``: the online code of Voita & Titov (2020), see :func:`reprlab.probe.mdl.online_codelength`.
    cv : int or list of (train, test) index pairs
        Number of grouped folds, or explicit splits (e.g. ``list(GroupKFold(5).split(X, y, groups))``).
    groups : array (n,), optional
        A group per row; folds never split a group. Default: every row its own group (right for one
        row per stimulus, wrong for tokens: pass the stimulus of each token).
    C : float or list, optional
        Logistic: inverse regularisation (scikit-learn's C). A list (default :data:`DEFAULT_CS`) is
        searched by inner grouped CV on each outer training set; one number fixes it. MLP: weight
        decay is ``1 / C`` (default 1e4, i.e. 1e-4).
    alpha : float or list, optional
        Ridge penalty, searched as ``C`` (default :data:`DEFAULT_ALPHAS`).
    control : "task" | "shuffle" | "random", optional
        Also run the probe on a control and report ``control_score`` and ``selectivity``; ``"task"``
        needs ``types`` (the word type of each row).
    k_sparse : int, optional
        Use only the ``k`` units ranked best on each training fold (Gurnee et al. 2023).
    n_permutations : int
        Permutations for the p-value (0: none). ``permutation``: ``"refit"`` or ``"predictions"``
        (module docstring).
    n_boot, ci : bootstrap resamples over groups (0: no interval) and the interval's level.
    inner_cv : inner folds for the regularisation search.
    hidden, steps : MLP width and Adam steps (full batch, learning rate 1e-2).
    """
    _check_choice(kind, "kind", KINDS)
    if kind == "mdl":
        from .mdl import mdl_probe

        return mdl_probe(X, y, groups=groups, C=C, seed=seed, control=control, types=types, dtype=dtype,
                         device=device)
    Xt = as_tensor(X, "X", dtype=dtype, device=device, min_rows=4)
    return _probe_many([Xt], y, kind, cv, groups, C, seed, alpha=alpha, control=control, types=types,
                       k_sparse=k_sparse, n_permutations=n_permutations, permutation=permutation, n_boot=n_boot,
                       ci=ci, inner_cv=inner_cv, hidden=hidden, steps=steps)[0]


def _probe_many(
    Xts: list[torch.Tensor], y: Any, kind: str, cv: Any, groups: Any, C: Any, seed: int, *, alpha: Any,
    control: str | None, types: Any, k_sparse: int | None, n_permutations: int, permutation: str, n_boot: int,
    ci: float, inner_cv: int, hidden: int, steps: int,
) -> list[ProbeResult]:
    """:func:`probe` of the same labels, groups and options on several matrices of one shape (layers),
    as one problem set: the folds, inner searches and permutations are the same for every layer, so
    each stage fits all layers together. Each result equals :func:`probe` on that matrix alone."""
    Xt = Xts[0]
    task = _make_task(Xt, y, kind, cv, groups, C, alpha, seed, inner_cv, hidden, steps)
    if control is not None:
        _check_choice(control, "control", CONTROLS)
    if control == "task" and types is None:
        raise ReprlabError("`control='task'` needs `types`: the word type (e.g. the lower-cased token) of each row.")
    _check_choice(permutation, "permutation", PERMUTATIONS)
    n_permutations = check_int(n_permutations, "n_permutations", 0)
    n_boot = check_int(n_boot, "n_boot", 0)
    if k_sparse is not None:
        k_sparse = check_int(k_sparse, "k_sparse", 1)
        if k_sparse > Xt.shape[1]:
            raise ReprlabError(f"`k_sparse`={k_sparse} exceeds the {Xt.shape[1]} units of X.")
    if not (isinstance(ci, float) and 0.0 < ci < 1.0):
        raise ReprlabError(f"`ci` must be a float strictly between 0 and 1; got {ci!r}.")

    X3 = Xt.unsqueeze(0) if len(Xts) == 1 else torch.stack(Xts)
    labels = task.labels()
    rng = np.random.default_rng([seed, 11])
    by_group = _folds.constant_within_groups(labels, task.groups)
    label_sets = [labels]
    if permutation == "refit":
        label_sets += [_folds.permute_labels(labels, task.groups, rng, by_group) for _ in range(n_permutations)]
    want_direction = kind in ("logistic", "ridge") and task.n_classes <= 2
    out, chosen, units, coefs = _oof(task, X3, np.stack(label_sets), k_sparse, full=want_direction)
    if want_direction and coefs is None:
        coefs = _full_coefs(task, X3, chosen, units)
    ctrl = _control_runs(task, X3, control, types, seed, k_sparse, cv) if control is not None else None
    results = []
    for layer in range(X3.shape[0]):
        task_l = task if layer == 0 else _replace_X(task, X3[layer])
        o = out[layer]
        score, pred = _score_outputs(task_l, o[0])
        null = None
        if n_permutations:
            if permutation == "refit":
                null = np.array([_score_outputs(task_l, o[i], label_sets[i])[0] for i in range(1, len(label_sets))])
            else:
                null = _prediction_null(task_l, pred, n_permutations, np.random.default_rng([seed, 11]), by_group)
        lo, hi = _bootstrap(task_l, pred, n_boot, ci, seed) if n_boot else (None, None)
        result = ProbeResult(
            kind=kind,
            metric="balanced_accuracy" if task.classes is not None else "r2",
            score=score,
            ci_low=lo,
            ci_high=hi,
            p_value=None if null is None else phipson_smyth(score, null),
            predictions=task.classes[pred] if task.classes is not None else pred,
            folds=task.folds,
            groups=task.groups,
            classes=task.classes,
            proba=o[0] if task.classes is not None else None,
            chosen=chosen[layer] if task.grid is not None else None,
            units=units[layer],
            null=null,
            n_permutations=n_permutations,
        )
        if want_direction:
            w = coefs[layer]
            norm = np.linalg.norm(w)
            result.coef, result.direction = w, (w / norm if norm > 0 else w)
        if ctrl is not None:
            c = ctrl[layer]
            result.control, result.control_score, result.control_result = control, c.score, c
            result.selectivity = score - c.score
        results.append(result)
    return results


def _replace_X(task: _Task, X: torch.Tensor) -> _Task:
    from dataclasses import replace

    return replace(task, X=X)


def _make_task(Xt, y, kind, cv, groups, C, alpha, seed, inner_cv, hidden, steps) -> _Task:
    n = Xt.shape[0]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ReprlabError(f"`seed` must be an integer; got {seed!r}.")
    codes_g = _folds.group_codes(groups, n)
    inner_cv = check_int(inner_cv, "inner_cv", 2)
    regression = kind == "ridge" or (kind == "mlp" and np.asarray(y).dtype.kind == "f")
    strata = None if regression else np.unique(_folds._labels_array(y, n), return_inverse=True)[1].reshape(-1)
    folds = _folds.make_folds(cv, codes_g, int(seed), strata)
    n_folds = int(folds.max()) + 1
    if kind == "ridge" and C is not None:
        raise ReprlabError("`C` is for classifiers; the ridge probe's penalty is `alpha`.")
    if kind != "ridge" and alpha is not None:
        raise ReprlabError("`alpha` is the ridge probe's penalty; classifiers take `C`.")
    if regression:
        target, codes, classes = _folds.continuous_target(y, n), None, None
    else:
        codes, classes = _folds.encode_classes(y, n, n_folds, folds)
        target = None
    if kind == "mlp":
        c = 1e4 if C is None else C
        if np.ndim(c) != 0:
            raise ReprlabError("The MLP probe takes one `C` (weight decay 1/C); it does not search a grid.")
        grid, fixed = None, 1.0 / _check_grid(c, "C")[0]
    else:
        value = alpha if kind == "ridge" else C
        default = DEFAULT_ALPHAS if kind == "ridge" else DEFAULT_CS
        values = _check_grid(default if value is None else value, "alpha" if kind == "ridge" else "C")
        grid, fixed = (values, None) if (value is None or np.ndim(value) > 0) and len(values) > 1 else (None, values[0])
    return _Task(Xt, kind, codes_g, folds, n_folds, codes, classes, target, grid, fixed, inner_cv, int(seed),
                 int(hidden), int(steps))


def _prediction_null(
    task: _Task, pred: np.ndarray, n_perm: int, rng: np.random.Generator, by_group: bool
) -> np.ndarray:
    """Scores of the fixed out-of-fold predictions against labels permuted within each test fold."""
    labels = task.labels()
    null = np.empty(n_perm)
    fold_rows = [np.flatnonzero(task.folds == f) for f in range(task.n_folds)]
    for i in range(n_perm):
        perm = labels.copy()
        for rows in fold_rows:
            sub = np.unique(task.groups[rows], return_inverse=True)[1].reshape(-1)
            perm[rows] = _folds.permute_labels(labels[rows], sub, rng, by_group)
        null[i] = _score_outputs(task, pred if task.classes is None else np.eye(task.n_classes)[pred], perm)[0]
    return null


def _most_chosen(values: Sequence[float]) -> float:
    """The value chosen for most folds (ties: the smallest): the regularisation of the all-rows fit."""
    v, counts = np.unique(np.asarray(values), return_counts=True)
    return float(v[np.argmax(counts)])


def _full_coefs(task: _Task, X3: torch.Tensor, chosen: list[list[float]], units: list) -> np.ndarray:
    """``k_sparse`` probes, per layer: the fit on all rows at the most often chosen value, on the units
    ranked on all rows, as coefficients in X's units (L, d), 0 for the other units."""
    L, _, d = X3.shape
    values = [_most_chosen(ch) for ch in chosen]
    out = np.zeros((L, d))
    for layer in range(L):
        Xl = X3[layer]
        cols = _rank_units(task, Xl.cpu().numpy(), task.labels(), np.arange(Xl.shape[0]), len(units[layer][0]))
        Xs = Xl[:, torch.as_tensor(cols, device=Xl.device)].unsqueeze(0)
        w = _fit_outputs(task, Xs, task.labels()[None], np.ones((1, Xl.shape[0])), np.array([[values[layer]]]),
                         coef=True)[1][0, 0]
        out[layer, cols] = w
    return out


def _control_runs(
    task: _Task, X3: torch.Tensor, control: str, types: Any, seed: int, k_sparse: int | None, cv: Any
) -> list[ProbeResult]:
    """The same probe on the control, per layer (the layers as one problem set)."""
    from .controls import control_labels, random_representation

    labels = task.classes[task.codes] if task.classes is not None else task.target
    Xs = list(X3)
    if control == "task":
        if task.classes is None:
            raise ReprlabError("`control='task'` is defined for class labels (Hewitt & Liang); use 'shuffle' here.")
        labels = control_labels(types, labels, seed=seed)
    elif control == "shuffle":
        rng = np.random.default_rng([seed, 13])
        by_group = _folds.constant_within_groups(labels, task.groups)
        labels = _folds.permute_labels(np.asarray(labels), task.groups, rng, by_group)
    else:  # the same Gaussian matrix of X's shape for every layer: one run serves all
        Xs = [torch.as_tensor(random_representation(tuple(X3.shape[1:]), seed), dtype=X3.dtype, device=X3.device)]
    C = None if task.kind == "ridge" else (task.grid if task.grid is not None else task.fixed)
    if task.kind == "mlp":
        C = 1.0 / task.fixed
    alpha = (task.grid if task.grid is not None else task.fixed) if task.kind == "ridge" else None
    res = _probe_many(Xs, labels, task.kind, cv, task.groups, C, seed, alpha=alpha, control=None, types=None,
                      k_sparse=k_sparse, n_permutations=0, permutation="refit", n_boot=0, ci=0.95,
                      inner_cv=task.inner_cv, hidden=task.hidden, steps=task.steps)
    return res * X3.shape[0] if len(res) == 1 else res


def _layer_groups(acts: Any, name: str, groups: Any, n: int) -> Any:
    if isinstance(groups, str):
        if groups != "stimulus":
            raise ReprlabError(f"`groups` as a string must be 'stimulus'; got {groups!r}.")
        index = getattr(acts, "index", None)
        if index is not None and getattr(acts, "_index", {}).get(name) is not None:
            return index(name)[0]
        return None  # one row per stimulus: each row is its own group
    return groups


def _same_groups(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(np.asarray(a), np.asarray(b))


def probe_layers(
    acts: Mapping[str, Any],
    y: Any,
    kind: str = "logistic",
    groups: Any = "stimulus",
    layers: str | Sequence[str] = "all",
    *,
    q: float = 0.05,
    **kwargs: Any,
) -> dict[str, ProbeResult]:
    """:func:`probe` on every layer of ``acts`` (an ``rl.Activations`` or a mapping name -> array).

    ``groups="stimulus"``: for a token-level layer of a store (``pool="none"``) the stimulus of each
    row (from ``acts.index``), so no stimulus is split across folds; for pooled layers each row is a
    stimulus and its own group. An array gives the groups explicitly. The same folds are used for
    every layer (they depend on the groups and the seed only). The p-values are adjusted across the
    layers by Benjamini-Hochberg (``p_adjusted``; :func:`reprlab.stats.bootstrap.fdr_bh`).
    """
    from ..stats.bootstrap import fdr_bh

    if not isinstance(acts, Mapping):
        raise ReprlabTypeError(
            f"`acts` must be an rl.Activations or a mapping layer name -> array; got {type(acts).__name__}. "
            "For one array use rl.probe."
        )
    names = list(acts) if layers == "all" else ([layers] if isinstance(layers, str) else list(layers))
    missing = [nm for nm in names if nm not in acts]
    if missing:
        raise ReprlabError(f"`layers`: {missing[:3]} not in acts. Layers: {list(acts)[:10]}")
    if not names:
        raise ReprlabError("`layers` is empty.")
    out: dict[str, ProbeResult] = {}
    if kind == "mdl":
        for name in names:
            X = acts[name]
            r = probe(X, y, kind, groups=_layer_groups(acts, name, groups, np.shape(X)[0]), **kwargs)
            r.layer = name
            out[name] = r
    else:
        _check_choice(kind, "kind", KINDS)
        import inspect

        try:
            bound = inspect.signature(probe).bind(None, y, kind, **kwargs)
        except TypeError as err:
            raise ReprlabError(f"probe_layers: {err}; the keyword arguments are those of rl.probe.") from None
        bound.apply_defaults()
        opts = dict(bound.arguments)
        for key in ("X", "y", "kind", "groups", "dtype", "device"):
            opts.pop(key)
        if opts["control"] is not None:
            _check_choice(opts["control"], "control", CONTROLS)
        pending: list[tuple[str, torch.Tensor, Any]] = []
        for name in names:
            X = acts[name]
            Xt = as_tensor(X, "X", dtype=kwargs.get("dtype"), device=kwargs.get("device"), min_rows=4)
            pending.append((name, Xt, _layer_groups(acts, name, groups, Xt.shape[0])))
        # layers of one shape and the same groups are one problem set (in batches that bound the memory)
        while pending:
            _, X0, g0 = pending[0]
            batch, rest, size = [], [], 0
            for item in pending:
                same = item[1].shape == X0.shape and _same_groups(item[2], g0)
                if same and (not batch or size + item[1].numel() <= _LAYER_BATCH_ELEMENTS):
                    batch.append(item)
                    size += item[1].numel()
                else:
                    rest.append(item)
            pending = rest
            results = _probe_many([b[1] for b in batch], y, kind, groups=g0, **opts)
            for (name, _, _), r in zip(batch, results):
                r.layer = name
                out[name] = r
        out = {name: out[name] for name in names}
    ps = [r.p_value for r in out.values()]
    if all(p is not None for p in ps):
        adjusted, _ = fdr_bh(np.asarray(ps, dtype=float), q=q)
        for r, p in zip(out.values(), adjusted):
            r.p_adjusted = float(p)
    return out
