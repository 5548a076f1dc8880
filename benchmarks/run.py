"""Run the standard workloads (../../shared/bench/WORKLOADS.md) side by side with their peers.

    python benchmarks/run.py W1 W7            # a selection; no argument: every workload present
    python benchmarks/run.py W1 --repeats 3 --out docs/benchmarks.md

Every variant (reprlab or peer) runs in its own fresh process, so its peak resident memory
(``ru_maxrss``, input data included) is its own; variants are interleaved round by round with a
GEMM-rate measurement, and each variant's median over the rounds is reported, with ratios
(peer / reprlab, reprlab / limit) computed from medians of the same run. The *limit* is a workload's
unavoidable cross-product FLOPs divided by the median over rounds of the best float32 GEMM rate
(NumPy or torch, 4096 x 4096) measured in that round.

A workload is a module ``benchmarks/wN_*.py`` (see WORKLOADS below) defining::

    ID = "W1"; TITLE = "..."
    VARIANTS = {name: {"role": "reprlab" | "peer" | "floor", "note": "...", "repeats": int (optional)}}
    LIMIT_FLOPS = float or None             # the unavoidable matrix-product FLOPs
    RATIOS = [(peer_variant, reprlab_variant), ...]   # printed as peer / reprlab
    def run_variant(name, workdir) -> {"seconds": float, "value": float (optional), ...}  # in the child
    def setup(workdir), def teardown(workdir), def skip(name) -> str | None   # optional, in the parent

Results go to the workload's section of docs/benchmarks.md (replaced in place), with the machine
and the date, so workloads run at different times keep their own sections.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKLOADS = {
    "W1": "w1_cka",
    "W2": "w2_rsa",
    "W3": "w3_shape",
    "W4": "w4_knn",
    "W5": "w5_describe",
    "W6": "w6_capture",
    "W7": "w7_stream",
}
sys.path.insert(0, str(HERE))


def child(module: str, variant: str, workdir: Path, timeout: float = 7200) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, str(HERE / "_child.py"), module, variant, str(workdir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(
            int(line.split()[1]) / 2**20
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem = float("nan")
    import numpy
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, load average at start {load:.1f}; "
        f"Python {platform.python_version()}, NumPy {numpy.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads)"
    )


def run_workload(wid: str, repeats: int, base: Path, skip_names: list[str]) -> str | None:
    name = WORKLOADS[wid]
    if not (HERE / f"{name}.py").exists():
        print(f"{wid}: benchmarks/{name}.py is not present; skipped.")
        return None
    mod = importlib.import_module(name)
    workdir = Path(tempfile.mkdtemp(prefix=f"{wid}-", dir=base))
    print(f"== {wid}: {mod.TITLE}", flush=True)
    if hasattr(mod, "setup"):
        mod.setup(workdir)
    results: dict[str, list[dict]] = {v: [] for v in mod.VARIANTS}
    skipped: dict[str, str] = {}
    rates: list[float] = []
    try:
        for r in range(repeats):
            g = child("_gemm", "rate", workdir)
            if "rate" in g:
                rates.append(g["rate"])
                print(f"  round {r + 1}: GEMM {g['rate'] / 1e9:.0f} GFLOP/s", flush=True)
            for v, spec in mod.VARIANTS.items():
                if r >= spec.get("repeats", repeats):
                    continue
                why = mod.skip(v) if hasattr(mod, "skip") else None
                if any(s in v for s in skip_names):
                    why = "skipped in this run (--skip)"
                if why:
                    skipped[v] = why
                    continue
                out = child(name, v, workdir)
                results[v].append(out)
                shown = f"{out['seconds']:.2f} s, {out['maxrss_mb']:.0f} MB" if "seconds" in out else out["error"]
                print(f"  {v}: {shown}", flush=True)
    finally:
        if hasattr(mod, "teardown"):
            mod.teardown(workdir)
    return report(mod, results, skipped, rates)


def report(mod, results: dict[str, list[dict]], skipped: dict[str, str], rates: list[float]) -> str:
    med = {
        v: statistics.median(o["seconds"] for o in outs if "seconds" in o)
        for v, outs in results.items()
        if any("seconds" in o for o in outs)
    }
    rate = statistics.median(rates) if rates else float("nan")
    limit = mod.LIMIT_FLOPS / rate if getattr(mod, "LIMIT_FLOPS", None) and rates else None
    lines = [f"### {mod.ID}: {mod.TITLE}", ""]
    if limit:
        lines.append(
            f"Limit: {mod.LIMIT_FLOPS / 1e12:.2f} TFLOP of unavoidable cross-products at the median best float32 "
            f"GEMM rate of the run ({rate / 1e9:.0f} GFLOP/s; rounds: "
            f"{', '.join(f'{x / 1e9:.0f}' for x in rates)}) = **{limit:.2f} s**."
        )
        lines.append("")
    measured = med.get(getattr(mod, "LIMIT_VARIANT", ""))
    if measured:
        lines += [f"Measured limit ({mod.LIMIT_VARIANT!r}, interleaved with the variants): **{measured:.2f} s**.", ""]
    lines += [
        "| variant | role | median time (s) | runs (s) | peak RSS (MB) | / limit | / measured limit | value | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v, spec in mod.VARIANTS.items():
        outs = [o for o in results.get(v, []) if "seconds" in o]
        if v in skipped and not outs:
            lines.append(f"| {v} | {spec['role']} | skipped | | | | | | {skipped[v]} |")
            continue
        if not outs:
            err = results.get(v, [{}])[0].get("error", "not run") if results.get(v) else "not run"
            lines.append(f"| {v} | {spec['role']} | failed | | | | | | {err} |")
            continue
        runs = ", ".join(f"{o['seconds']:.2f}" for o in outs)
        rss = max(o["maxrss_mb"] for o in outs)
        val = outs[0].get("value")
        vs = f"{val:.6g}" if isinstance(val, float) else ""
        lim = f"{med[v] / limit:.2f}x" if limit and spec["role"] == "reprlab" else ""
        mlim = f"{med[v] / measured:.2f}x" if measured and spec["role"] == "reprlab" else ""
        lines.append(
            f"| {v} | {spec['role']} | {med[v]:.2f} | {runs} | {rss:.0f} | {lim} | {mlim} | {vs} "
            f"| {spec.get('note', '')} |"
        )
    ratio_lines = []
    for peer, ours in getattr(mod, "RATIOS", []):
        if peer in med and ours in med:
            ratio_lines.append(f"- {peer} / {ours}: **{med[peer] / med[ours]:.2f}x**")
    if ratio_lines:
        lines += ["", "Ratios (medians of this run):", "", *ratio_lines]
    if getattr(mod, "NOTES", ""):
        lines += ["", mod.NOTES.strip()]
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def write_docs(path: Path, sections: dict[str, str], header: str) -> None:
    text = (
        path.read_text()
        if path.exists()
        else (
            "# Benchmarks\n\nGenerated by `python benchmarks/run.py` (see its docstring for the method: one fresh "
            "process per variant, interleaved rounds, medians, ratios from the same run). Workloads: "
            "WORKLOADS.md in the shared bench folder.\n"
        )
    )
    for wid, body in sections.items():
        start, end = f"<!-- {wid} start -->", f"<!-- {wid} end -->"
        block = f"{start}\n{header}\n\n{body}\n{end}"
        if start in text and end in text:
            text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workloads", nargs="*", help="W1 ... W7 (default: every workload module present)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds; medians are reported (default 3)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"), help="docs file to update ('' for none)")
    ap.add_argument("--workdir", default=None, help="scratch folder for data (default: system temp)")
    ap.add_argument("--skip", action="append", default=[], help="skip variants whose name contains this text")
    ap.add_argument("--tag", default="", help="suffix of the docs section ids, to keep several runs of a workload")
    args = ap.parse_args(argv)
    chosen = [w.upper() for w in args.workloads] or [w for w, m in WORKLOADS.items() if (HERE / f"{m}.py").exists()]
    bad = [w for w in chosen if w not in WORKLOADS]
    if bad:
        ap.error(f"unknown workload(s) {bad}; choose from {list(WORKLOADS)}")
    base = Path(args.workdir or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    header = f"Run {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}; {args.repeats} round(s)."
    print(header, flush=True)
    sections = {}
    for wid in chosen:
        text = run_workload(wid, args.repeats, base, args.skip)
        if text:
            sections[wid + (f"-{args.tag}" if args.tag else "")] = text
    if args.out and sections:
        write_docs(Path(args.out), sections, header)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
