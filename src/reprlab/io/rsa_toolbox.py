"""Conversion to and from rsatoolbox's ``Dataset`` and ``RDMs`` (Schütt et al. 2023, rsatoolbox 0.3).

Nothing is lost either way: a ``Dataset`` becomes a :class:`BrainData` holding the measurements and
*all* its descriptors (dataset, observation and channel descriptors, e.g. conditions, runs, channel
names); an ``RDMs`` object becomes an :class:`RDMSet` of ``rl.RDM`` with its dataset, RDM and
pattern descriptors. Converting back gives an object equal to the original. RDMs are computed by
reprlab (:func:`reprlab.rdm`) from the condition and run descriptors, so ``BrainData.rdm("crossnobis")``
is rsatoolbox's ``calc_rdm(ds, method="crossnobis", descriptor="conds", cv_descriptor="runs")``.

What rsatoolbox holds and reprlab cannot: a ``TemporalDataset`` (a time axis per observation: pick
a time point or call its ``time_as_observations()`` first) and RDMs with missing (NaN)
dissimilarities; both raise an error saying so.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ReprlabError, ReprlabTypeError, require

_CV_METHODS = ("crossnobis", "poisson_cv")


def _rl() -> Any:
    import reprlab  # the public names (rl.RDM, rl.rdm): measures/ may be reorganised behind them

    return reprlab


def _rsatoolbox() -> Any:
    return require("rsatoolbox", "peers")


@dataclass
class BrainData:
    """Measurements ``(n_observations, n_channels)`` with their descriptors (an rsatoolbox ``Dataset``).

    ``obs`` maps descriptor name -> one value per observation (``condition_key`` and ``run_key``
    name the ones used as conditions and runs); ``channels`` maps name -> one value per channel;
    ``descriptors`` holds the dataset-level ones.
    """

    data: np.ndarray
    obs: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, Any] = field(default_factory=dict)
    descriptors: dict[str, Any] = field(default_factory=dict)
    condition_key: str | None = "conds"
    run_key: str | None = "runs"

    @property
    def conditions(self) -> np.ndarray | None:
        """The condition of each observation, or None."""
        return None if self.condition_key not in self.obs else np.asarray(self.obs[self.condition_key])

    @property
    def runs(self) -> np.ndarray | None:
        """The run (partition) of each observation, or None."""
        return None if self.run_key not in self.obs else np.asarray(self.obs[self.run_key])

    @property
    def channel_names(self) -> list[str] | None:
        return None if "names" not in self.channels else [str(c) for c in self.channels["names"]]

    def rdm(self, method: str = "correlation", **kwargs: Any) -> Any:
        """``rl.rdm`` of the measurements with these conditions (and runs, for the cross-validated methods)."""
        kwargs.setdefault("conditions", self.conditions)
        if method in _CV_METHODS:
            kwargs.setdefault("runs", self.runs)
        return _rl().rdm(self.data, method, **kwargs)


@dataclass
class RDMSet:
    """Several ``rl.RDM`` over the same conditions, with rsatoolbox's descriptors."""

    rdms: list[Any]
    method: str | None = None
    descriptors: dict[str, Any] = field(default_factory=dict)
    rdm_descriptors: dict[str, Any] = field(default_factory=dict)
    pattern_descriptors: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rdms)

    def __getitem__(self, i: int) -> Any:
        return self.rdms[i]

    @property
    def condensed(self) -> np.ndarray:
        """The stack ``(n_rdms, n_pairs)`` of condensed dissimilarities."""
        return np.stack([r.condensed for r in self.rdms])


def from_rsatoolbox(obj: Any, *, conditions: str = "conds", runs: str = "runs") -> BrainData | RDMSet:
    """An rsatoolbox ``Dataset`` -> :class:`BrainData`; an ``RDMs`` -> :class:`RDMSet` (descriptors kept).

    Parameters
    ----------
    obj : rsatoolbox.data.Dataset or rsatoolbox.rdm.RDMs
    conditions, runs : str
        The observation descriptors that hold the conditions and the runs (``Dataset``), and the pattern
        descriptor used as each RDM's labels (``RDMs``; ``"index"`` when ``conditions`` is absent).
    """
    rt = _rsatoolbox()
    if isinstance(obj, rt.data.TemporalDataset):
        raise ReprlabError(
            "A TemporalDataset has a time axis per observation, which reprlab's (observations x channels) data "
            "cannot hold. Convert it first, e.g. ds.time_as_observations() or ds.subset_time(...) of one time point."
        )
    if isinstance(obj, rt.data.Dataset):
        data = np.asarray(obj.measurements)
        return BrainData(
            data=data.copy(),
            obs=copy.deepcopy(dict(obj.obs_descriptors)),
            channels=copy.deepcopy(dict(obj.channel_descriptors)),
            descriptors=copy.deepcopy(dict(obj.descriptors)),
            condition_key=conditions,
            run_key=runs,
        )
    if isinstance(obj, rt.rdm.RDMs):
        D = np.asarray(obj.dissimilarities, dtype=float)
        if np.isnan(D).any():
            raise ReprlabError(
                f"The RDMs hold {int(np.isnan(D).sum())} missing (NaN) dissimilarities, which rl.RDM cannot represent; "
                "subset the patterns to those measured in every RDM first (rdms.subset_pattern(...))."
            )
        pat = copy.deepcopy(dict(obj.pattern_descriptors))
        key = conditions if conditions in pat else "index"
        labels = np.asarray(pat[key]) if key in pat else None
        method = obj.dissimilarity_measure
        rdms = [_rl().RDM(v, method=method, labels=labels) for v in D]
        return RDMSet(
            rdms=rdms,
            method=method,
            descriptors=copy.deepcopy(dict(obj.descriptors)),
            rdm_descriptors=copy.deepcopy(dict(obj.rdm_descriptors)),
            pattern_descriptors=pat,
        )
    raise ReprlabTypeError(
        f"`obj` must be an rsatoolbox Dataset or RDMs; got {type(obj).__name__}. "
        "(For a NumPy array, use it directly or rl.io.to_rsatoolbox(array, conditions=..., runs=...).)"
    )


def to_rsatoolbox(
    obj: Any,
    *,
    conditions: Sequence[Any] | None = None,
    runs: Sequence[Any] | None = None,
    channels: Sequence[str] | None = None,
    descriptors: dict[str, Any] | None = None,
) -> Any:
    """:class:`BrainData` or an array -> rsatoolbox ``Dataset``; ``rl.RDM``, RDM list or :class:`RDMSet` -> ``RDMs``.

    For an array ``(n_observations, n_channels)``, ``conditions`` and ``runs`` become the observation
    descriptors ``"conds"`` and ``"runs"``, ``channels`` the channel descriptor ``"names"``, and
    ``descriptors`` the dataset's descriptors. An RDM's labels become the pattern descriptor ``"conds"``.
    """
    rt = _rsatoolbox()
    RDM = _rl().RDM
    if isinstance(obj, BrainData):
        return rt.data.Dataset(
            obj.data.copy(),
            descriptors=copy.deepcopy(obj.descriptors),
            obs_descriptors=copy.deepcopy(obj.obs),
            channel_descriptors=copy.deepcopy(obj.channels),
        )
    if isinstance(obj, RDMSet):
        return rt.rdm.RDMs(
            obj.condensed,
            dissimilarity_measure=obj.method,
            descriptors=copy.deepcopy(obj.descriptors),
            rdm_descriptors=copy.deepcopy(obj.rdm_descriptors),
            pattern_descriptors=copy.deepcopy(obj.pattern_descriptors),
        )
    if isinstance(obj, RDM) or (isinstance(obj, (list, tuple)) and obj and all(isinstance(r, RDM) for r in obj)):
        rdms = [obj] if isinstance(obj, RDM) else list(obj)
        first = rdms[0]
        for r in rdms[1:]:
            if r.n_conditions != first.n_conditions or not np.array_equal(r.labels, first.labels):
                raise ReprlabError("Every RDM in the list must have the same conditions (labels) in the same order.")
        methods = {r.method for r in rdms}
        return rt.rdm.RDMs(
            np.stack([r.condensed for r in rdms]),
            dissimilarity_measure=methods.pop() if len(methods) == 1 else None,
            descriptors=copy.deepcopy(descriptors) if descriptors else None,
            pattern_descriptors={"conds": list(first.labels)},
        )
    if isinstance(obj, (list, tuple)) and obj and any(isinstance(r, RDM) for r in obj):
        raise ReprlabTypeError("A list passed to to_rsatoolbox must hold only rl.RDM objects.")
    arr = np.asarray(obj)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ReprlabTypeError(
            "`obj` must be an array (n_observations, n_channels), BrainData, rl.RDM or RDMSet; "
            f"got {type(obj).__name__}."
        )
    if arr.ndim != 2:
        raise ReprlabError(
            f"An rsatoolbox Dataset is (n_observations, n_channels); got shape {arr.shape}. Reshape it first."
        )
    obs: dict[str, Any] = {}
    for key, values in (("conds", conditions), ("runs", runs)):
        if values is not None:
            values = np.asarray(values)
            if values.shape != (arr.shape[0],):
                raise ReprlabError(
                    f"`{'conditions' if key == 'conds' else 'runs'}` needs one entry per observation "
                    f"({arr.shape[0]}); got shape {values.shape}."
                )
            obs[key] = values
    chan: dict[str, Any] = {}
    if channels is not None:
        if len(channels) != arr.shape[1]:
            raise ReprlabError(f"`channels` names {len(channels)} channels but the data have {arr.shape[1]}.")
        chan["names"] = list(channels)
    return rt.data.Dataset(
        arr.copy(),
        descriptors=copy.deepcopy(descriptors) if descriptors else None,
        obs_descriptors=obs or None,
        channel_descriptors=chan or None,
    )
