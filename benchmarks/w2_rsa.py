"""W2: RSA over 13 layers, n=1,000 conditions, d=768 (float32): correlation RDMs, then all 13 x 13
comparisons by Spearman, Kendall tau-a and rho-a. reprlab vs rsatoolbox ``calc_rdm`` + ``compare``,
timed interleaved in one process (median of ``--repeats``), reported as ratios (peer / reprlab).

    PYTHONPATH=src python benchmarks/w2_rsa.py [--n 1000] [--layers 13] [--repeats 3]

reprlab's timings include everything per representation (RDM, ranks / sort orders) plus the pair step;
rsatoolbox's compare runs on the RDMs object of all layers at once (its own many-to-many form).
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time

import numpy as np


def make_layers(n_layers: int, n: int, d: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Gaussian layers with shared low-rank structure between consecutive layers."""
    g = np.random.default_rng(seed)
    z = g.normal(size=(n, 32))
    out = {}
    for i in range(n_layers):
        z = 0.8 * z + 0.6 * g.normal(size=z.shape)
        out[f"layer.{i}"] = (z @ g.normal(size=(32, d)) + 2.0 * g.normal(size=(n, d))).astype(np.float32)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--layers", type=int, default=13)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--dtype", default="float64", help="reprlab compute dtype (rsatoolbox computes in the input's float32)"
    )
    ap.add_argument("--torch-threads", type=int, default=0, help="torch.set_num_threads (0: leave the default)")
    ap.add_argument("--skip-peer-tau", action="store_true", help="skip rsatoolbox's tau-a (about 20 s per run)")
    args = ap.parse_args()

    import rsatoolbox
    import torch

    import reprlab as rl

    rsa_mod = importlib.import_module("reprlab.measures.rsa")

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    layers = make_layers(args.layers, args.n, args.d)
    names = list(layers)

    def peer_rdms():
        ds = [rsatoolbox.data.Dataset(layers[k]) for k in names]
        return rsatoolbox.rdm.calc_rdm(ds, method="correlation")

    def ours_rdms():
        return torch.stack([rl.rdm(layers[k], "correlation", dtype=args.dtype).tensor for k in names])

    peer_cmp = {"spearman": "spearman", "rho_a": "rho-a", "kendall_tau_a": "tau-a"}
    times: dict[str, list[float]] = {}
    results: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    cpu: dict[str, list[float]] = {}

    def timed(key: str, fn):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times.setdefault(key, []).append(time.perf_counter() - t)
        cpu.setdefault(key, []).append(time.process_time() - c)
        return out

    for _ in range(args.repeats):
        R_peer = timed("rdm/peer", peer_rdms)
        V = timed("rdm/reprlab", ours_rdms)
        n_cond = args.n
        for comp, pc in peer_cmp.items():
            if comp == "kendall_tau_a" and args.skip_peer_tau:
                vp = None
            else:
                vp = timed(f"{comp}/peer", lambda pc=pc, R=R_peer: rsatoolbox.rdm.compare(R, R, method=pc))

            def ours(comp=comp, V=V, n_cond=n_cond):
                st = rsa_mod.prepare_rdms(V, n_cond, comp)
                return rsa_mod.compare_states(st, st).numpy() if comp != "kendall_tau_a" else _tau_sym(st)

            vo = timed(f"{comp}/reprlab", ours)
            results[comp] = (vp, vo)

    print(
        f"W2: {args.layers} layers, n={args.n}, d={args.d}, entries per RDM {args.n * (args.n - 1) // 2}, "
        f"reprlab dtype {args.dtype}, torch threads {torch.get_num_threads()}, median of {args.repeats}"
    )
    print("rsatoolbox compares all k x k ordered pairs; reprlab's tau-a all k(k+1)/2 unordered pairs (mirrored)")
    print("wall-clock and process CPU time (the CPU ratio is steadier on a shared machine)")
    print(f"{'step':<16}{'peer wall':>11}{'ours wall':>11}{'ratio':>8}{'peer cpu':>11}{'ours cpu':>11}{'ratio':>8}")
    for key in ["rdm", *peer_cmp]:
        ow, oc = statistics.median(times[f"{key}/reprlab"]), statistics.median(cpu[f"{key}/reprlab"])
        if f"{key}/peer" in times:
            pw, pc_ = statistics.median(times[f"{key}/peer"]), statistics.median(cpu[f"{key}/peer"])
            print(f"{key:<16}{pw:>11.3f}{ow:>11.3f}{pw / ow:>7.1f}x{pc_:>11.3f}{oc:>11.3f}{pc_ / oc:>7.1f}x")
        else:
            print(f"{key:<16}{'-':>11}{ow:>11.3f}{'':>8}{'-':>11}{oc:>11.3f}")
    for comp, (vp, vo) in results.items():
        if vp is not None:
            print(f"max |rsatoolbox - reprlab| {comp}: {np.abs(vp - vo).max():.2e}")


def _tau_sym(st) -> np.ndarray:
    """tau-a over all unordered pairs (each computed once, mirrored; the diagonal is 1 for a tie-free RDM)."""
    from reprlab.measures import _ranks

    k = st.k
    out = np.eye(k)
    for i in range(k):
        for j in range(i, k):
            out[i, j] = out[j, i] = _ranks.kendall_tau(st.tau[i], st.tau[j], "a")
    return out


if __name__ == "__main__":
    main()
