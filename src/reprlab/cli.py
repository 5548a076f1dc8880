"""The ``reprlab`` command line: a thin layer over the public API.

Each subcommand is a ``_cmd_<name>(args)`` function and a ``_parser_<name>(sub)`` that declares its
arguments with an example in its help. Errors from the library are printed without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MissingDependencyError, ReprlabError, ReprlabTypeError


def _load_arrays(path: str) -> dict[str, np.ndarray]:
    """Read representations from a ``.npy`` (one array) or ``.npz`` (named arrays) file, or a store."""
    p = Path(path)
    if not p.exists():
        raise ReprlabError(f"Input {path!r} does not exist.")
    if p.is_dir():
        import reprlab as rl

        acts = rl.Activations.open(p)
        return {name: acts[name] for name in acts.names}
    if p.suffix == ".npy":
        return {p.stem: np.load(p, allow_pickle=False)}
    if p.suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    raise ReprlabError(f"Input {path!r}: expected a .npy or .npz file or an activation store directory.")


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join("{:<" + str(w) + "}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(lines)


# --- reprlab measures -------------------------------------------------------------------------


def _parser_measures(sub: Any) -> None:
    p = sub.add_parser(
        "measures",
        help="list the measures and their properties",
        description="List every registered measure with its properties.\n\nExample:\n  reprlab measures --kind compare",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--kind", choices=["compare", "describe"], help="only this kind")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table (for the docs)")


def _cmd_measures(args: argparse.Namespace) -> int:
    import reprlab as rl

    infos = rl.measures.available(kind=args.kind)
    header = ["name", "kind", "family", "similar", "metric", "symmetric", "range", "invariances", "parameters"]
    rows = []
    for i in infos:
        lo, hi = i.range
        rows.append(
            [
                i.name,
                i.kind,
                i.family,
                "larger" if i.larger_is_similar else "smaller",
                "yes" if i.is_metric or any(v.is_metric for v in i.variants) else "no",
                ("yes" if i.symmetric else "no")
                + "".join(f" (not {k}={'/'.join(map(str, v))})" for k, v in i.asymmetric_when.items()),
                f"[{lo:.3g}, {hi:.3g}]",
                ", ".join(sorted(i.invariances)) or "-",
                ", ".join(f"{k}={p.default!r}" for k, p in i.params.items() if not p.data) or "-",
            ]
        )
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(f"`{r[0]}`" if k == 0 else r[k] for k in range(len(r))) + " |")
    else:
        print(_table(rows, header))
    return 0


# --- reprlab compare --------------------------------------------------------------------------


def _parser_compare(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="compare representations from .npy/.npz files or activation stores",
        description=(
            "Compare representations with one or more measures.\n\n"
            "Two inputs: one value per measure for each pair of arrays (a .npy each: one value).\n"
            "One .npz or store: the matrix over all its arrays.\n\n"
            "Examples:\n"
            "  reprlab compare a.npy b.npy --measure cka --measure 'rsa(compare=kendall_tau_a)'\n"
            "  reprlab compare layers.npz --measure cka --out results/"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", help="one or two .npy / .npz files or activation stores")
    p.add_argument("--measure", "-m", action="append", help="measure name or spec (repeatable); default cka")
    p.add_argument("--out", help="directory to write one JSON and CSV file per measure")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--device", default="cpu")


def _cmd_compare(args: argparse.Namespace) -> int:
    import reprlab as rl

    if len(args.inputs) > 2:
        raise ReprlabError(f"`reprlab compare` takes one or two inputs; got {len(args.inputs)}.")
    measures = args.measure or ["cka"]
    A = _load_arrays(args.inputs[0])
    B = _load_arrays(args.inputs[1]) if len(args.inputs) == 2 else None
    results = []
    for spec in measures:
        res = rl.compare_all(A, B, spec, dtype=args.dtype, device=args.device)
        results.append(res)
        if res.values.shape == (1, 1):
            print(f"{res.measure}\t{res.rows[0]} vs {res.cols[0]}\t{res.values[0, 0]:.10g}")
        else:
            print(f"# {res.measure}")
            print(res.to_pandas().to_string(float_format=lambda v: f"{v:.4f}"))
    if args.out:
        out = Path(args.out)
        for res in results:
            stem = "compare_" + "".join(c if c.isalnum() else "_" for c in res.measure).strip("_")
            res.save(out / f"{stem}.json")
            res.save(out / f"{stem}.csv")
        print(f"wrote {len(results)} result(s) to {out}/")
    return 0


# --- reprlab describe -------------------------------------------------------------------------


def _parser_describe(sub: Any) -> None:
    p = sub.add_parser(
        "describe",
        help="describe each representation (intrinsic dimension, collapse, sparsity, ...)",
        description=(
            "Describe every array of a .npy/.npz file or activation store with one or more describe\n"
            "measures (see `reprlab measures --kind describe`). Labels for neural_collapse, nc1, vci,\n"
            "alignment and rate_reduction come from --labels (a .npy file, or NAME inside the .npz).\n\n"
            "Examples:\n"
            "  reprlab describe acts.zarr --measure twonn --out results/\n"
            "  reprlab describe layers.npz --measure 'mle(k=10)' --measure participation_ratio\n"
            "  reprlab describe feats.npz --measure neural_collapse --labels y"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="a .npy / .npz file or an activation store")
    p.add_argument("--measure", "-m", action="append", help="describe measure name or spec (repeatable); default twonn")
    p.add_argument("--labels", help="class labels: a .npy file, or the name of an array inside the .npz input")
    p.add_argument("--out", help="directory to write describe.json and describe.csv")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--device", default="cpu")


def _cmd_describe(args: argparse.Namespace) -> int:
    import reprlab as rl

    arrays = _load_arrays(args.input)
    params: dict[str, Any] = {}
    if args.labels:
        if args.labels in arrays:
            params["labels"] = arrays.pop(args.labels)
        elif Path(args.labels).suffix == ".npy" and Path(args.labels).exists():
            params["labels"] = np.load(args.labels, allow_pickle=False)
        else:
            raise ReprlabError(
                f"--labels {args.labels!r} is neither an array of {args.input!r} ({', '.join(arrays)}) nor a .npy file."
            )
    res = rl.describe_all(arrays, args.measure or ["twonn"], dtype=args.dtype, device=args.device, **params)
    print(res.to_pandas().T.to_string(float_format=lambda v: f"{v:.6g}"))
    if args.out:
        out = Path(args.out)
        res.save(out / "describe.json")
        res.save(out / "describe.csv")
        print(f"wrote describe.json and describe.csv to {out}/")
    return 0


# --- reprlab extract --------------------------------------------------------------------------


def _parser_extract(sub: Any) -> None:
    p = sub.add_parser(
        "extract",
        help="run stimuli through a zoo model and store layer activations (resumable)",
        description=(
            "Run stimuli through a packaged model and write the pooled activations of its layers to a zarr\n"
            "store, batch by batch. Run the same command again to resume an interrupted extraction.\n\n"
            "Examples:\n"
            "  reprlab extract --model minilm-l6 --stimuli lee50 --out acts.zarr\n"
            "  reprlab extract --model smollm2-135m --stimuli sentences.txt --layers 'model.layers.*' --pool last "
            "--out smol.zarr\n"
            "  reprlab extract --model minilm-l6 --stimuli data.csv --column text --out acts.zarr\n"
            "  reprlab extract --model smollm2-135m --stimuli lee50 --pool none --capture resid --capture attn "
            "--out tok.zarr\n"
            "  reprlab extract --model efficientnet-lite0 --stimuli images/ --pool spatial_mean --out cnn.zarr"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="zoo model id: minilm-l6, smollm2-135m or efficientnet-lite0")
    p.add_argument(
        "--stimuli", required=True, help="packaged set (lee50, photos, ...), a .txt/.csv file or an image folder"
    )
    p.add_argument("--out", required=True, help="output store directory (.zarr)")
    p.add_argument("--layers", action="append", help="module name or glob (repeatable); default: the model's layers")
    p.add_argument("--pool", help="mean, last, first, max, spatial_mean, flatten or none; default: the model's")
    p.add_argument("--column", help="CSV: the column holding the stimuli")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default=None, help="cpu (default) or cuda")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "float64"], help="stored dtype")
    p.add_argument(
        "--capture",
        action="append",
        choices=["resid", "attn", "logits"],
        help="what to keep (repeatable; default resid): layer outputs, attention probabilities, logits",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing store of another run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _cmd_extract(args: argparse.Namespace) -> int:
    import reprlab as rl

    stim = rl.stimuli.load(args.stimuli, column=args.column)
    model = rl.zoo.load(args.model)
    acts = rl.extract(
        model,
        stim,
        layers=args.layers or "all",
        pool=args.pool,
        batch_size=args.batch_size,
        out=args.out,
        device=args.device,
        store_dtype=args.dtype,
        capture=args.capture or ("resid",),
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(f"wrote {len(acts.names)} layer(s) x {len(acts.ids)} stimuli to {args.out}/")
    for name in acts.names:
        print(f"  {name}\t{acts.shape(name)}")
    return 0


# --- reprlab demo -----------------------------------------------------------------------------


def _parser_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the flagship analysis on bundled models and data",
        description="Run the demo analysis.\n\nExample:\n  reprlab demo --out results/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="results", help="output directory (default: results/)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="fewer documents, tokens and resamples (a smoke test)")


def _cmd_demo(args: argparse.Namespace) -> int:
    from .experiments.demo import run_demo

    return run_demo(out=args.out, seed=args.seed, quick=args.quick)


# --- reprlab report ---------------------------------------------------------------------------


def _parser_report(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="build a self-contained HTML report from a results directory",
        description=(
            "Build report.html from a directory written by `reprlab compare`, `reprlab describe` or\n"
            "`reprlab demo`.\n\nExample:\n  reprlab compare layers.npz -m cka --out results/ && reprlab report results/"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results", help="results directory")
    p.add_argument("--out", help="output file (default: RESULTS/report.html)")
    p.add_argument("--title", help="report title")


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import build_report

    path = build_report(args.results, out=args.out, title=args.title)
    print(f"wrote {path}")
    return 0


# --- reprlab sae ------------------------------------------------------------------------------

_SAE_EXAMPLE = """Examples:
  reprlab sae train acts.zarr --layer model.layers.6 --k 32 --expansion 8 --steps 2000 --out sae/
  reprlab sae report sae/ held_out.zarr --latents 10 --out sae/report.json"""


def _parser_sae(sub: Any) -> None:
    p = sub.add_parser(
        "sae",
        help="train a sparse autoencoder on a store, or report on one",
        description="Sparse autoencoders on an activation store (rl.dictionary).\n\n" + _SAE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_subparsers(dest="sae_command", metavar="{train,report}")
    what.required = True
    t = what.add_parser(
        "train",
        help="train an SAE on one layer of a store",
        description="Train an SAE (rl.dictionary.train) and save it to --out.\n\n" + _SAE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("store", help="activation store directory (reprlab extract ... --out)")
    t.add_argument("--layer", help="layer to train on (needed when the store has several)")
    t.add_argument("--kind", default="topk", choices=["topk", "batchtopk", "relu", "jumprelu"])
    t.add_argument("--k", type=int, default=32, help="L0: per row (topk), mean (batchtopk), target (jumprelu)")
    t.add_argument("--expansion", type=int, default=8, help="latents per input dimension (default 8)")
    t.add_argument("--steps", type=int, help="optimiser steps (default: one pass over the rows)")
    t.add_argument("--batch-size", type=int, default=4096)
    t.add_argument("--l1-coeff", type=float, default=5.0, help="L1 penalty of --kind relu")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", help="e.g. cuda")
    t.add_argument("--checkpoint", help="checkpoint file: written during training, resumed from if present")
    t.add_argument("--out", required=True, help="directory for the SAE (sae.json, sae.pt)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    r = what.add_parser(
        "report",
        help="evaluate an SAE on a store and list its top latents",
        description="Evaluate a saved SAE on held-out rows (rl.dictionary.evaluate) and show the density\n"
        "histogram and the top activating tokens of some latents.\n\n" + _SAE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("sae", help="SAE directory (reprlab sae train --out)")
    r.add_argument("store", help="activation store with held-out rows")
    r.add_argument("--layer", help="layer (default: the one the SAE was trained on)")
    r.add_argument("--latents", type=int, default=10, help="how many of the densest latents to show (default 10)")
    r.add_argument("--examples", type=int, default=5, help="top examples per latent (default 5)")
    r.add_argument("--out", help="write the metrics and examples as JSON here")


def _cmd_sae(args: argparse.Namespace) -> int:
    import json

    import reprlab as rl

    acts = rl.Activations.open(args.store)
    if args.sae_command == "train":
        sae = rl.dictionary.train(
            acts, args.layer, kind=args.kind, k=args.k, expansion=args.expansion, steps=args.steps,
            batch_size=args.batch_size, device=args.device, seed=args.seed, l1_coeff=args.l1_coeff,
            checkpoint=args.checkpoint, progress=not args.quiet,
        )  # fmt: skip
        sae.save(args.out)
        info = sae.info
        print(
            f"{sae!r}: {info['steps']} steps in {info['seconds']:.1f} s, running FVU {info['running_fvu']:.4f}, "
            f"L0 {info['running_l0']:.1f}, input scale {info['scale']:.4g}; saved to {args.out}/"
        )
        return 0
    sae = rl.dictionary.load(args.sae)
    layer = args.layer or sae.layer
    ev = rl.dictionary.evaluate(sae, acts, layer)
    rows = [[k, f"{v:.6g}"] for k, v in ev.to_dict().items() if isinstance(v, (int, float))]
    print(_table(rows, ["metric", "value"]))
    counts, edges = ev.density_hist
    print("\nlog10 firing density of the live latents:")
    for c, lo in zip(counts, edges[:-1]):
        if c:
            print(f"  [{lo:5.2f}, {lo + 0.25:5.2f})  {c:6d}  {'#' * int(50 * c / counts.max())}")
    latents = np.argsort(-ev.density, kind="stable")[: args.latents].tolist()
    examples = rl.dictionary.top_examples(sae, acts, latents=latents, k=args.examples, layer=layer)
    print(f"\ntop {args.examples} examples of the {len(latents)} densest latents:")
    table = [
        [e["latent"], e["rank"], f"{e['activation']:.3g}", e.get("stimulus", e["row"]), e.get("context", "")]
        for e in examples
    ]
    print(_table(table, ["latent", "rank", "activation", "stimulus/row", "context"]))
    if args.out:
        Path(args.out).write_text(json.dumps({"metrics": ev.to_dict(), "examples": examples}, indent=1))
    return 0


COMMANDS: dict[str, tuple[Callable[[Any], None], Callable[[argparse.Namespace], int]]] = {
    "measures": (_parser_measures, _cmd_measures),
    "compare": (_parser_compare, _cmd_compare),
    "extract": (_parser_extract, _cmd_extract),
    "describe": (_parser_describe, _cmd_describe),
    "report": (_parser_report, _cmd_report),
    "demo": (_parser_demo, _cmd_demo),
    "sae": (_parser_sae, _cmd_sae),
}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="reprlab",
        description="Measure, compare and interpret the representations inside neural networks and brains.",
    )
    parser.add_argument("--version", action="version", version=f"reprlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add_parser, _ in COMMANDS.values():
        add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except (ReprlabError, ReprlabTypeError, MissingDependencyError) as err:
        print(f"reprlab {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
