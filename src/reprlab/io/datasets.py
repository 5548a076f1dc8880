"""Brain data that ship inside PyPI packages and load offline (``rl.datasets``).

>>> import reprlab as rl
>>> d = rl.datasets.load("naplib-speech")          # doctest: +SKIP
>>> d.responses[0].shape, d.rate, d.transcripts[0][:30]   # doctest: +SKIP

The files are read at run time from the installed packages; nothing is copied into reprlab.

=====================  ==========================================================================================
``naplib-speech``      naplib 2.6 (MIT), ``naplib/io/sample_data/demo_data.mat``: 10 trials of audiobook
                       speech (about 52-62 s each), each with its transcript, a 128-band auditory
                       spectrogram at 100 Hz and 10 *simulated* intracranial channels at 100 Hz (naplib:
                       the predictions of 10 spectro-temporal receptive-field models plus noise; channel
                       names F7 ... T4). Transcripts carry no word timing. ``pip install --no-deps
                       naplib`` (its own requirements pin numpy < 2, which is not needed to read the file).
``nitime-fmri``        nitime 0.12 (BSD-3), ``data/fmri_timeseries.csv``: resting-state fMRI, 250 volumes
                       of 31 region-of-interest time series (the first three are white matter,
                       ventricles and whole brain), TR 1.89 s (as nitime's examples).
``nitime-event-fmri``  nitime, ``data/event_related_fmri.csv``: 3,360 volumes of a BOLD time series from
                       motion-sensitive voxels near MT, with the event code of each volume (0: none,
                       1-6: six kinds of motion trial, 96 each), TR 2 s (nitime's example).
``nitime-grasshopper`` nitime, ``data/grasshopper_spike_times{1,2}.txt`` and ``grasshopper_stimulus{1,2}.txt``:
                       spike times of a grasshopper auditory receptor neuron to two 10 s noise stimuli
                       (file values in microseconds, here seconds) and the stimuli's amplitude envelopes
                       sampled every 50 microseconds (20 kHz).
=====================  ==========================================================================================

A small NWB file is not bundled: the tests write one (:func:`reprlab.io.write_nwb`).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependencyError, ReprlabError, close_matches


@dataclass
class BrainDataset:
    """A packaged brain data set: responses per trial, their stimuli and what is known about them.

    Attributes
    ----------
    name, description, source, licence : str
    responses : list of arrays (n_samples_i, n_channels), one per trial (run)
    rate : float or None
        Sampling rate of ``responses`` in Hz.
    channels : list[str]
    trials : list[str]
        An id per trial.
    stimuli : dict[str, list]
        Stimulus features per trial (``spectrogram`` (n_samples_i, 128) for naplib-speech; ``envelope``
        for the grasshopper), sampled at ``stimulus_rate`` (defaults to ``rate``).
    transcripts : list[str] or None
        The words heard in each trial (naplib-speech).
    events : array or None
        The event code of every sample (nitime-event-fmri).
    spike_times : list of arrays or None
        Spike times in seconds per trial (nitime-grasshopper).
    """

    name: str
    description: str
    source: str
    licence: str
    responses: list[np.ndarray] = field(default_factory=list)
    rate: float | None = None
    channels: list[str] = field(default_factory=list)
    trials: list[str] = field(default_factory=list)
    stimuli: dict[str, list[Any]] = field(default_factory=dict)
    stimulus_rate: float | None = None
    transcripts: list[str] | None = None
    events: np.ndarray | None = None
    spike_times: list[np.ndarray] | None = None

    def __repr__(self) -> str:
        return f"BrainDataset({self.name!r}, {len(self.trials)} trials, {len(self.channels)} channels)"


def _package_dir(module: str, pip: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"This data set ships in the package '{pip}', which is not installed. Install it with: pip install {pip}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _naplib_speech() -> BrainDataset:
    import h5py

    path = _package_dir("naplib", "--no-deps naplib") / "io" / "sample_data" / "demo_data.mat"

    def text(f: Any, ref: Any) -> str:
        return "".join(map(chr, np.asarray(f[ref]).reshape(-1)))

    with h5py.File(path, "r") as f:
        out = f["out"]
        n = out["resp"].shape[0]
        responses = [np.asarray(f[out["resp"][i, 0]], dtype=np.float64) for i in range(n)]
        spectrograms = [np.asarray(f[out["aud"][i, 0]], dtype=np.float64) for i in range(n)]
        names = [text(f, out["name"][i, 0]) for i in range(n)]
        scripts = [text(f, out["script"][i, 0]) for i in range(n)]
        rate = float(np.asarray(f[out["dataf"][0, 0]]).reshape(-1)[0])
        chans = [text(f, r) for r in np.asarray(f[out["chname"][0, 0]]).reshape(-1)]
    return BrainDataset(
        name="naplib-speech",
        description="10 trials of audiobook speech with transcripts, 128-band spectrograms and 10 simulated "
        "intracranial channels (STRF model predictions plus noise), 100 Hz",
        source=f"naplib {path}",
        licence="MIT (naplib)",
        responses=responses,
        rate=rate,
        channels=chans,
        trials=names,
        stimuli={"spectrogram": spectrograms},
        stimulus_rate=rate,
        transcripts=scripts,
    )


def _nitime_file(name: str) -> Path:
    return _package_dir("nitime", "nitime") / "data" / name


def _nitime_fmri() -> BrainDataset:
    path = _nitime_file("fmri_timeseries.csv")
    with open(path) as f:
        header = [h.strip().strip('"') for h in f.readline().split(",")]
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    return BrainDataset(
        name="nitime-fmri",
        description="resting-state fMRI: 250 volumes x 31 region time series (WM, Vent, Brain, then 28 ROIs), "
        "TR 1.89 s",
        source=f"nitime {path}",
        licence="BSD-3-Clause (nitime)",
        responses=[data],
        rate=1 / 1.89,
        channels=header,
        trials=["run0"],
    )


def _nitime_event_fmri() -> BrainDataset:
    path = _nitime_file("event_related_fmri.csv")
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    return BrainDataset(
        name="nitime-event-fmri",
        description="event-related fMRI: BOLD of motion-sensitive voxels near MT with 6 trial types, TR 2 s",
        source=f"nitime {path}",
        licence="BSD-3-Clause (nitime)",
        responses=[data[:, :1]],
        rate=0.5,
        channels=["bold"],
        trials=["run0"],
        events=data[:, 1].astype(np.int64),
    )


def _nitime_grasshopper() -> BrainDataset:
    spikes, env = [], []
    for i in (1, 2):
        st = np.loadtxt(_nitime_file(f"grasshopper_spike_times{i}.txt"), comments="#")
        spikes.append(np.asarray(st, dtype=np.float64).reshape(-1) * 1e-6)
        stim = np.loadtxt(_nitime_file(f"grasshopper_stimulus{i}.txt"))
        env.append(stim[:, 1])
    return BrainDataset(
        name="nitime-grasshopper",
        description="grasshopper auditory receptor neuron: spike times (s) to two 10 s noise stimuli and their "
        "amplitude envelopes at 20 kHz",
        source=f"nitime {_nitime_file('')}",
        licence="BSD-3-Clause (nitime)",
        channels=["receptor"],
        trials=["stimulus1", "stimulus2"],
        stimuli={"envelope": env},
        stimulus_rate=20000.0,
        spike_times=spikes,
    )


_SETS = {
    "naplib-speech": _naplib_speech,
    "nitime-fmri": _nitime_fmri,
    "nitime-event-fmri": _nitime_event_fmri,
    "nitime-grasshopper": _nitime_grasshopper,
}


def available() -> list[str]:
    """Names of the packaged brain data sets."""
    return list(_SETS)


def load(name: str) -> BrainDataset:
    """A packaged brain data set by name (module docstring; :func:`available`)."""
    if name not in _SETS:
        raise ReprlabError(f"Unknown data set {name!r}.{close_matches(name, _SETS)} Available: {available()}.")
    return _SETS[name]()
