"""A damaged store is an error naming the layer, rows and repair; re-running extract repairs only the
damaged rows; `reprlab verify` checks a whole store."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import reprlab as rl
from reprlab.cli import main
from reprlab.errors import ReprlabError
from reprlab.store.integrity import verify_store
from tests.store.test_store import POOL, Net, X, _same

REPAIR = "re-extracts only the damaged rows"


@pytest.fixture
def store(tmp_path):
    """30 stimuli, batches of 7: layer 'a' (mean) in 5 chunks of 7 rows, layer 'b' (tokens) in 1 chunk."""
    out = tmp_path / "s.zarr"
    rl.extract(Net(), X, layers="all", pool=POOL, batch_size=7, out=out, progress=False)
    return out, rl.extract(Net(), X, layers="all", pool=POOL, batch_size=7, progress=False)


def _repair(out, calls: int) -> None:
    """Re-running the same extraction re-runs ``calls`` batches and restores the exact values."""
    net = Net()
    rl.extract(net, X, layers="all", pool=POOL, batch_size=7, out=out, progress=False)
    assert net.calls == calls
    assert verify_store(out) == []


def test_intact_store_verifies_and_a_rerun_writes_nothing(store, capsys):
    out, _ = store
    assert verify_store(out) == []
    assert main(["verify", str(out)]) == 0 and "intact" in capsys.readouterr().out
    net = Net()
    rl.extract(net, X, layers="all", pool=POOL, batch_size=7, out=out)
    assert net.calls == 0 and "nothing was written" in capsys.readouterr().err


def test_missing_chunk_is_an_error_not_zeros(store, capsys):
    out, mem = store
    (out / "layers" / "a" / "c" / "1" / "0").unlink()
    acts = rl.Activations.open(out)
    with pytest.raises(ReprlabError, match=rf"layer 'a', chunk 1: rows 7-13, stimuli 7-13.*missing.*{REPAIR}"):
        acts["a"]
    np.testing.assert_array_equal(acts.subset(["0", "20"])["a"], mem["a"][[0, 20]])  # other chunks still read
    with pytest.raises(ReprlabError, match="chunk 1"):
        acts.subset(["8"])
    assert main(["compare", str(out)]) == 2
    assert "layer 'a', chunk 1" in capsys.readouterr().err
    assert main(["verify", str(out)]) == 1
    assert "chunk 1: rows 7-13" in capsys.readouterr().out
    _repair(out, calls=1)
    _same(rl.Activations.open(out), mem)


@pytest.mark.parametrize("how", ["garbled", "truncated"])
def test_damaged_chunk_file(store, how):
    out, mem = store
    f = out / "layers" / "a" / "c" / "3" / "0"
    raw = bytearray(f.read_bytes())
    if how == "garbled":
        raw[len(raw) // 2 :] = bytes(255 - b for b in raw[len(raw) // 2 :])
    else:
        raw = raw[: len(raw) // 2]
    f.write_bytes(bytes(raw))
    with pytest.raises(ReprlabError, match=rf"layer 'a', chunk 3: rows 21-27.*(decoded|checksum).*{REPAIR}"):
        rl.Activations.open(out)["a"]
    (d,) = verify_store(out)
    assert (d.layer, d.chunk, d.rows) == ("a", 3, (21, 28))
    _repair(out, calls=1)
    _same(rl.Activations.open(out), mem)


def test_damaged_token_layer_chunk(store):
    out, mem = store
    f = out / "index" / "b" / "position" / "c" / "0"
    f.write_bytes(f.read_bytes()[:-3])
    with pytest.raises(ReprlabError, match=rf"layer 'b', chunk 0: rows 0-89, stimuli 0-29.*{REPAIR}"):
        rl.Activations.open(out)["b"]
    _repair(out, calls=5)  # the chunk holds all 30 stimuli: re-run in the original 5 batches
    _same(rl.Activations.open(out), mem)


def test_truncated_metadata_file(store):
    out, mem = store
    meta = out / "zarr.json"
    meta.write_text(meta.read_text()[:200])
    with pytest.raises(ReprlabError, match=rf"zarr.json cannot be read.*{REPAIR}"):
        rl.Activations.open(out)
    with pytest.raises(ReprlabError, match=r"zarr\.json cannot be read"):
        verify_store(out)
    _repair(out, calls=0)  # the metadata is restored from its copy; no row was damaged
    _same(rl.Activations.open(out), mem)


def test_deleted_layer_folder(store):
    out, mem = store
    shutil.rmtree(out / "layers" / "a")
    with pytest.raises(ReprlabError, match=rf"layer 'a', the whole layer: rows 0-29.*folder.*missing.*{REPAIR}"):
        rl.Activations.open(out)
    (d,) = verify_store(out)
    assert d.layer == "a" and d.chunk is None
    _repair(out, calls=5)
    _same(rl.Activations.open(out), mem)


def test_damage_during_an_interrupted_run_is_repaired_with_the_rest(tmp_path):
    out = tmp_path / "s.zarr"
    stop = Net()
    forward = stop.forward

    def killed_at_batch_3(x):
        if stop.calls == 3:
            raise KeyboardInterrupt
        return forward(x)

    stop.forward = killed_at_batch_3
    with pytest.raises(KeyboardInterrupt):
        rl.extract(stop, X, layers="all", pool=POOL, batch_size=7, out=out, progress=False)
    (out / "layers" / "a" / "c" / "0" / "0").unlink()
    net = Net()
    got = rl.extract(net, X, layers="all", pool=POOL, batch_size=7, out=out, progress=False)
    assert net.calls == 1 + 2  # chunk 0 again, then batches 3 and 4
    _same(got, rl.extract(Net(), X, layers="all", pool=POOL, batch_size=7, progress=False))


def _attention_store(out):
    from reprlab.capture.zoo import TextPreprocess
    from tests.tiny_lms import TEXTS, tiny_lm, tiny_tokenizer

    texts = [f"{a} {b}" for a in TEXTS for b in TEXTS[:3]]
    model = tiny_lm("llama")
    calls = []
    model.model.layers[0].register_forward_pre_hook(lambda *a: calls.append(1))
    acts = rl.extract(model, texts, preprocess=TextPreprocess(tiny_tokenizer()), layers="model.layers.1",
                      pool="none", capture=("resid", "attn"), attn_layers=[2], batch_size=4, out=out,
                      progress=False)  # fmt: skip
    return acts, len(calls)


def test_damaged_attention_values_and_lengths_are_found_and_repaired_bit_for_bit(tmp_path, monkeypatch):
    from reprlab.store import zarr_store

    monkeypatch.setattr(zarr_store, "_ATTN_CHUNK", 100)  # a stimulus's 4 x n x n values span several chunks
    out = tmp_path / "attn.zarr"
    acts, _ = _attention_store(out)
    n = len(acts.ids)
    assert verify_store(out) == []
    before = [acts.attention("model.layers.2", i) for i in range(n)]
    records = rl.Activations.open(out).attrs["chunks"]
    assert len(records["attention/model.layers.2"]) > 10 and len(records["tokens/length"]) >= 1
    values = out / "attention" / "model.layers.2" / "c"
    (values / "5").unlink()
    raw = bytearray((values / "9").read_bytes())
    raw[-4:] = bytes(255 - b for b in raw[-4:])
    (values / "9").write_bytes(bytes(raw))
    damages = verify_store(out)
    assert [(d.layer, d.chunk) for d in damages] == [("attention/model.layers.2", 5), ("attention/model.layers.2", 9)]
    assert "array 'attention/model.layers.2', chunk 5: values 500-599" in damages[0].describe()
    s0, s1 = damages[0].stimuli
    with pytest.raises(ReprlabError, match=rf"chunk 5: values 500-599, stimuli {s0}-{s1}.*missing.*{REPAIR}"):
        rl.Activations.open(out).attention("model.layers.2", s0)
    fine = next(i for i in range(n) if i < damages[0].stimuli[0] or i > damages[1].stimuli[1])
    np.testing.assert_array_equal(rl.Activations.open(out).attention("model.layers.2", fine), before[fine])
    _, calls = _attention_store(out)  # the same run again: re-runs only the damaged chunks' batches
    assert 1 <= calls < -(-n // 4)
    assert verify_store(out) == []
    again = rl.Activations.open(out)
    assert again.attrs["chunks"] == records
    for i in range(n):
        assert again.attention("model.layers.2", i).tobytes() == before[i].tobytes()
    # the real-token counts behind the values are checked too
    (out / "tokens" / "length" / "c" / "0").unlink()
    (d,) = verify_store(out)
    assert d.layer == "tokens/length" and d.chunk == 0
    with pytest.raises(ReprlabError, match="array 'tokens/length', chunk 0"):
        rl.Activations.open(out).attention("model.layers.2", 0)
    _attention_store(out)
    assert verify_store(out) == [] and rl.Activations.open(out).attrs["chunks"] == records


def test_a_store_written_before_attention_records_is_read_unchecked(tmp_path):
    import json

    out = tmp_path / "old.zarr"
    acts, _ = _attention_store(out)
    want = acts.attention("model.layers.2", 3)
    for name in ("zarr.json", "reprlab.json"):  # what an earlier version wrote: records for the layers only
        doc = json.loads((out / name).read_text())
        attrs = doc["attributes"] if name == "zarr.json" else doc
        for key in ("attention/model.layers.2", "tokens/length"):
            del attrs["chunks"][key]
        (out / name).write_text(json.dumps(doc))
    assert verify_store(out) == []
    np.testing.assert_array_equal(rl.Activations.open(out).attention("model.layers.2", 3), want)
