"""Neurodata Without Borders (NWB 2, through pynwb): responses, spike trains and the stimulus table.

An NWB file written by :func:`write_nwb` holds

* the **stimulus table** as the file's ``trials`` table: ``start_time``, ``stop_time`` (seconds) and
  one column per stimulus property (its id, a label, a word, ...). Every analysis here is aligned to
  it, so it is required, when reading too;
* optionally **continuous responses** ``(n_times, n_channels)`` as the acquisition ``TimeSeries``
  ``"responses"`` (sampling ``rate`` in Hz, ``starting_time``), with the channel names in a
  ``DynamicTable`` ``"responses_channels"``;
* optionally **per-trial responses** ``(n_trials, n_channels)`` as the ``TimeSeries``
  ``"trial_responses"`` stamped at the trials' start times;
* optionally **spike trains**: the ``units`` table (``spike_times`` in seconds, a ``unit_name`` column).

:func:`read_nwb` returns an :class:`NWBData` with the same arrays (bit for bit: NWB stores float64
and the table's columns as written) and bins spikes per trial (:meth:`NWBData.spike_counts`) or
averages continuous responses per trial (:meth:`NWBData.trial_means`). Reference: Rübel et al. (2022)
eLife 11:e78362 (NWB).
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReprlabError, require

_RESERVED = ("start_time", "stop_time")


def _pynwb() -> Any:
    return require("pynwb", "brain")


@dataclass
class NWBData:
    """What :func:`read_nwb` found in a file (absent parts are None)."""

    trials: dict[str, np.ndarray]
    responses: np.ndarray | None = None
    rate: float | None = None
    starting_time: float = 0.0
    channels: list[str] | None = None
    trial_responses: np.ndarray | None = None
    spike_times: list[np.ndarray] | None = None
    units: list[str] | None = None
    description: str = ""
    path: str = field(default="", repr=False)

    @property
    def n_trials(self) -> int:
        return len(self.trials["start_time"])

    def stimulus_table(self) -> Any:
        """The trials table as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.trials)

    def spike_counts(self, bin_size: float | None = None, window: tuple[float, float] | None = None) -> np.ndarray:
        """Spike counts per trial: ``(n_trials, n_units)`` over each trial, or ``(n_trials, n_bins, n_units)``.

        ``window`` is ``(start, stop)`` in seconds relative to each trial's ``start_time`` (default: the
        whole trial). With ``bin_size``, the window is cut into bins of that width and must be the same
        for every trial (give ``window`` when the trials differ in length). Bins are half-open ``[a, b)``.
        """
        if self.spike_times is None:
            raise ReprlabError(f"{self.path or 'The file'} holds no spike trains (no units table).")
        start = np.asarray(self.trials["start_time"], dtype=float)
        stop = np.asarray(self.trials["stop_time"], dtype=float)
        if window is not None:
            a, b = float(window[0]), float(window[1])
            if not b > a:
                raise ReprlabError(f"`window` must be (start, stop) with stop > start; got {window!r}.")
            lo, hi = start + a, start + b
        else:
            lo, hi = start, stop
        if bin_size is None:
            edges = [np.array([x, y]) for x, y in zip(lo, hi)]
        else:
            if not bin_size > 0:
                raise ReprlabError(f"`bin_size` must be positive (seconds); got {bin_size!r}.")
            widths = hi - lo
            if not np.allclose(widths, widths[0]):
                raise ReprlabError(
                    "The trials differ in length, so their bins would not line up; pass `window=(start, stop)` "
                    "relative to each trial's start."
                )
            n_bins = int(np.floor(widths[0] / bin_size + 1e-9))
            if n_bins < 1:
                raise ReprlabError(f"`bin_size` {bin_size} s is longer than the {widths[0]} s window.")
            edges = [x + bin_size * np.arange(n_bins + 1) for x in lo]
        out = np.stack([np.stack([np.histogram(st, bins=e)[0] for st in self.spike_times], -1) for e in edges])
        return out[:, 0] if bin_size is None else out

    def trial_means(self) -> np.ndarray:
        """The continuous responses averaged within each trial ``[start_time, stop_time)``: (n_trials, n_channels)."""
        if self.responses is None or self.rate is None:
            raise ReprlabError(f"{self.path or 'The file'} holds no continuous responses.")
        t = self.starting_time + np.arange(self.responses.shape[0]) / self.rate
        out = []
        for i, (a, b) in enumerate(zip(self.trials["start_time"], self.trials["stop_time"])):
            m = (t >= a) & (t < b)
            if not m.any():
                raise ReprlabError(f"Trial {i} ({a} to {b} s) holds no sample of the responses.")
            out.append(self.responses[m].mean(0))
        return np.stack(out)


def _check_trials(trials: Any) -> dict[str, np.ndarray]:
    if hasattr(trials, "to_dict") and hasattr(trials, "columns"):
        trials = {c: trials[c].to_numpy() for c in trials.columns}
    if not isinstance(trials, Mapping):
        raise ReprlabError(
            "`trials` (the stimulus table) must be a mapping or DataFrame of columns with at least "
            "'start_time' and 'stop_time' in seconds."
        )
    cols = {str(k): np.asarray(v) for k, v in trials.items()}
    missing = [c for c in _RESERVED if c not in cols]
    if missing:
        raise ReprlabError(f"`trials` lacks the column(s) {missing}; every trial needs a start_time and stop_time (s).")
    n = len(cols["start_time"])
    if n == 0:
        raise ReprlabError("`trials` holds no trial.")
    for k, v in cols.items():
        if v.ndim != 1 or len(v) != n:
            raise ReprlabError(
                f"Column {k!r} of `trials` has shape {v.shape}; every column needs one value per trial ({n})."
            )
        if v.dtype == object and not all(isinstance(x, str) for x in v):
            raise ReprlabError(f"Column {k!r} of `trials` mixes types; NWB columns hold numbers or strings.")
    if np.any(cols["stop_time"] < cols["start_time"]):
        raise ReprlabError("`trials` has a stop_time before its start_time.")
    return cols


def write_nwb(
    path: str | Path,
    *,
    trials: Any,
    responses: Any = None,
    rate: float | None = None,
    starting_time: float = 0.0,
    channels: Sequence[str] | None = None,
    trial_responses: Any = None,
    spike_times: Sequence[Any] | None = None,
    units: Sequence[str] | None = None,
    description: str = "written by reprlab",
    identifier: str | None = None,
    session_start_time: _dt.datetime | None = None,
    overwrite: bool = False,
) -> Path:
    """Write responses and/or spike trains with their stimulus table to an NWB file (module docstring).

    Parameters
    ----------
    path : the ``.nwb`` file to write
    trials : mapping or DataFrame
        The stimulus table: ``start_time``, ``stop_time`` (s) and any stimulus columns (numbers or strings).
    responses : array (n_times, n_channels), optional
        Continuous responses sampled at ``rate`` Hz from ``starting_time`` s.
    channels : channel names (default ``ch0``, ``ch1``, ...)
    trial_responses : array (n_trials, n_channels), optional
        One response vector per trial (e.g. a window average), in trial order.
    spike_times : sequence of 1-D arrays (s), optional
        One spike train per unit; ``units`` names them (default ``unit0``, ...).
    overwrite : bool
        Replace an existing file (default: refuse).
    """
    pynwb = _pynwb()
    from hdmf.common import DynamicTable, VectorData

    path = Path(path)
    if path.exists() and not overwrite:
        raise ReprlabError(f"{str(path)!r} exists; pass overwrite=True to replace it.")
    cols = _check_trials(trials)
    if responses is None and trial_responses is None and spike_times is None:
        raise ReprlabError("Nothing to write: give `responses`, `trial_responses` and/or `spike_times`.")
    start = session_start_time or _dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc)
    nwb = pynwb.NWBFile(
        session_description=description,
        identifier=identifier or str(uuid.uuid4()),
        session_start_time=start,
    )
    for name in cols:
        if name not in _RESERVED:
            nwb.add_trial_column(name=name, description=f"stimulus property {name!r}")
    n_trials = len(cols["start_time"])
    for i in range(n_trials):
        row = {k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in cols.items()}
        nwb.add_trial(**row)
    if responses is not None:
        R = np.asarray(responses, dtype=float)
        if R.ndim != 2:
            raise ReprlabError(f"`responses` must be (n_times, n_channels); got shape {R.shape}.")
        if rate is None or not rate > 0:
            raise ReprlabError("`responses` need their sampling `rate` in Hz (a positive number).")
        names = list(channels) if channels is not None else [f"ch{i}" for i in range(R.shape[1])]
        if len(names) != R.shape[1]:
            raise ReprlabError(f"`channels` names {len(names)} channels but `responses` has {R.shape[1]}.")
        nwb.add_acquisition(
            pynwb.TimeSeries(
                name="responses", data=R, unit="a.u.", rate=float(rate), starting_time=float(starting_time)
            )
        )
        nwb.add_acquisition(
            DynamicTable(
                name="responses_channels",
                description="names of the columns of 'responses'",
                columns=[VectorData(name="channel_name", description="channel name", data=names)],
            )
        )
    if trial_responses is not None:
        TR = np.asarray(trial_responses, dtype=float)
        if TR.ndim != 2 or TR.shape[0] != n_trials:
            raise ReprlabError(
                f"`trial_responses` must be (n_trials={n_trials}, n_channels), one row per trial; got shape {TR.shape}."
            )
        nwb.add_acquisition(
            pynwb.TimeSeries(name="trial_responses", data=TR, unit="a.u.", timestamps=cols["start_time"].astype(float))
        )
    if spike_times is not None:
        trains = [np.asarray(st, dtype=float).reshape(-1) for st in spike_times]
        names = list(units) if units is not None else [f"unit{i}" for i in range(len(trains))]
        if len(names) != len(trains):
            raise ReprlabError(f"`units` names {len(names)} units but `spike_times` has {len(trains)}.")
        nwb.add_unit_column(name="unit_name", description="unit name")
        for name, st in zip(names, trains):
            nwb.add_unit(spike_times=st, unit_name=name)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def read_nwb(path: str | Path, *, series: str = "responses") -> NWBData:
    """Read an NWB file's stimulus table (required), responses and spike trains (module docstring).

    ``series`` names the acquisition ``TimeSeries`` of continuous responses (default ``"responses"``;
    a file from elsewhere may use another name: the error lists the ones present).
    """
    pynwb = _pynwb()
    path = Path(path)
    if not path.is_file():
        raise ReprlabError(f"No NWB file at {str(path)!r}.")
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        if nwb.trials is None or len(nwb.trials) == 0:
            raise ReprlabError(
                f"{str(path)!r} has no stimulus table (its 'trials' table is missing or empty). reprlab aligns "
                "responses to stimuli through it: add one (start_time, stop_time and stimulus columns per trial), "
                "e.g. rl.io.write_nwb(..., trials=...)."
            )
        trials = {c: np.asarray(nwb.trials[c].data[:]) for c in nwb.trials.colnames if not c.endswith("_index")}
        trials = {"start_time": trials.pop("start_time"), "stop_time": trials.pop("stop_time"), **trials}
        out = NWBData(trials=trials, description=str(nwb.session_description), path=str(path))
        acq = nwb.acquisition
        if series in acq:
            ts = acq[series]
            out.responses = np.asarray(ts.data[:])
            out.rate = None if ts.rate is None else float(ts.rate)
            out.starting_time = float(ts.starting_time or 0.0)
            if f"{series}_channels" in acq:
                out.channels = [str(x) for x in acq[f"{series}_channels"]["channel_name"].data[:]]
        elif series != "responses":
            raise ReprlabError(f"{str(path)!r} has no acquisition series {series!r}; it has {sorted(acq)}.")
        if "trial_responses" in acq:
            out.trial_responses = np.asarray(acq["trial_responses"].data[:])
        if nwb.units is not None and len(nwb.units) > 0:
            out.spike_times = [np.asarray(nwb.units.get_unit_spike_times(i)) for i in range(len(nwb.units))]
            if "unit_name" in nwb.units.colnames:
                out.units = [str(x) for x in nwb.units["unit_name"].data[:]]
    return out
