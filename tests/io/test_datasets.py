"""rl.datasets: the packaged brain data load offline with their documented shapes."""

from __future__ import annotations

import numpy as np
import pytest

import reprlab as rl
from reprlab.errors import ReprlabError


def test_naplib_speech():
    pytest.importorskip("h5py")
    d = rl.datasets.load("naplib-speech")
    assert len(d.responses) == len(d.transcripts) == len(d.stimuli["spectrogram"]) == 10
    assert d.rate == 100.0 and d.channels[:3] == ["F7", "F3", "Fz"]
    for r, s in zip(d.responses, d.stimuli["spectrogram"]):
        assert r.shape[1] == 10 and s.shape == (r.shape[0], 128)
    assert d.transcripts[0].startswith("IT IS ME AGAIN")


def test_nitime_sets():
    fmri = rl.datasets.load("nitime-fmri")
    assert fmri.responses[0].shape == (250, 31) and fmri.channels[:3] == ["WM", "Vent", "Brain"]
    ev = rl.datasets.load("nitime-event-fmri")
    assert ev.responses[0].shape == (3360, 1)
    assert sorted(np.unique(ev.events)) == list(range(7)) and (ev.events == 3).sum() == 96
    g = rl.datasets.load("nitime-grasshopper")
    assert len(g.spike_times) == 2 and all(0 < s.max() < 10 for s in g.spike_times)
    assert len(g.stimuli["envelope"][0]) == 200000


def test_unknown_name():
    with pytest.raises(ReprlabError, match="Did you mean 'nitime-fmri'"):
        rl.datasets.load("nitime-fmr")


def test_naplib_transcripts_are_a_stimulus_set():
    pytest.importorskip("h5py")
    stim = rl.stimuli.load("naplib-speech")
    d = rl.datasets.load("naplib-speech")
    assert stim.kind == "text" and stim.items == d.transcripts and stim.ids == d.trials
