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
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "float64"])
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
        dtype=args.dtype,
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


# --- reprlab encode / surprisal (brain and behaviour data) --------------------------------------


def _lags_arg(text: str) -> list[int]:
    """``"0:10"`` (a range, end excluded), ``"0:30:3"`` or ``"0,2,5"``."""
    try:
        if ":" in text:
            return list(range(*(int(x) for x in text.split(":"))))
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise ReprlabError(
            f"--lags {text!r}: use START:STOP[:STEP] (samples, STOP excluded) or a list 0,2,5."
        ) from None


def _one_array(path: str, what: str) -> np.ndarray:
    """A 2-D array from .npy, .npz (``file.npz:key``, or its only array), .csv (numbers, a header row) or .nwb."""
    key = None
    if ":" in path and not Path(path).exists():
        path, key = path.rsplit(":", 1)
    p = Path(path)
    if p.suffix == ".csv" and p.exists():
        return np.loadtxt(p, delimiter=",", skiprows=1, ndmin=2)
    if p.suffix == ".nwb":
        import reprlab as rl

        f = rl.io.read_nwb(p, series=key or "responses")
        if f.responses is None:
            raise ReprlabError(f"{path!r} holds no continuous responses (acquisition series 'responses').")
        return f.responses
    arrays = _load_arrays(path)
    if key is not None:
        if key not in arrays:
            raise ReprlabError(f"{what} {path!r} has no array {key!r}; it has {sorted(arrays)}.")
        return arrays[key]
    if len(arrays) != 1:
        raise ReprlabError(f"{what} {path!r} holds {len(arrays)} arrays ({sorted(arrays)}); name one as FILE.npz:KEY.")
    return next(iter(arrays.values()))


def _parser_encode(sub: Any) -> None:
    p = sub.add_parser(
        "encode",
        help="cross-validated ridge encoding model with time lags, features -> responses",
        description=(
            "Fit rl.encoding: ridge regression from stimulus features to each response channel with FIR\n"
            "lags (samples), penalties chosen by nested cross-validation over contiguous time blocks or whole\n"
            "stimulus groups; prints each channel's held-out r (or R^2) with its bootstrap interval.\n"
            "Inputs: .npy, .npz (FILE.npz:KEY), .csv (header row) or .nwb (its 'responses' series).\n\n"
            "Examples:\n"
            "  reprlab encode features.npy responses.npy --lags 0:10 --out results/\n"
            "  reprlab encode data.npz:spectrogram data.npz:resp --groups data.npz:trial --lags 0:30:3"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("features", help="features (n_samples, n_features)")
    p.add_argument("responses", help="responses (n_samples, n_channels)")
    p.add_argument("--lags", default="0:10", help="delays in samples: START:STOP[:STEP] or 0,2,5 (default 0:10)")
    p.add_argument("--alphas", help="ridge penalties, comma-separated (default logspace(-2, 7, 10))")
    p.add_argument("--cv", type=int, default=5, help="outer folds (default 5)")
    p.add_argument("--groups", help="a stimulus/trial label per sample (same file forms as the inputs)")
    p.add_argument("--score", default="r", choices=["r", "r2"])
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="directory to write encoding.csv and encoding.json")
    p.add_argument("--device", default="cpu")


def _cmd_encode(args: argparse.Namespace) -> int:
    import json

    import reprlab as rl

    X = _one_array(args.features, "features")
    Y = _one_array(args.responses, "responses")
    groups = None if args.groups is None else np.asarray(_one_array(args.groups, "groups")).reshape(-1)
    alphas = None if args.alphas is None else [float(a) for a in args.alphas.split(",")]
    e = rl.encoding(
        X,
        Y,
        lags=_lags_arg(args.lags),
        alphas=alphas,
        cv=args.cv,
        groups=groups,
        score=args.score,
        n_boot=args.n_boot,
        seed=args.seed,
        device=args.device,
    )
    df = e.to_pandas()
    print(df.to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"mean {args.score} over {len(df)} channels: {float(np.mean(e.score)):.4f}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        df.to_csv(out / "encoding.csv")
        record = {
            "lags": e.lags.tolist(),
            "cv": args.cv,
            "score": args.score,
            "n_boot": args.n_boot,
            "seed": args.seed,
            "channels": {c: {k: float(v) for k, v in row.items()} for c, row in df.iterrows()},
        }
        (out / "encoding.json").write_text(json.dumps(record, indent=1))
        print(f"wrote {out / 'encoding.csv'} and {out / 'encoding.json'}")
    return 0


def _parser_surprisal(sub: Any) -> None:
    p = sub.add_parser(
        "surprisal",
        help="per-word (and per-token) surprisal of texts under a causal language model",
        description=(
            "Surprisal in bits of every word of every text (one per line of a .txt file, or a stimulus\n"
            "set), the sum of its sub-word tokens' surprisals, under a zoo causal LM.\n\n"
            "Example:\n"
            "  reprlab surprisal sentences.txt --model smollm2-135m --out results/"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("texts", help="a .txt file (one text per line) or a text stimulus set name")
    p.add_argument("--model", default="smollm2-135m", help="a causal LM of the zoo (default smollm2-135m)")
    p.add_argument("--tokens", action="store_true", help="write one row per token instead of per word")
    p.add_argument("--out", help="directory to write surprisal.csv")


def _cmd_surprisal(args: argparse.Namespace) -> int:
    import reprlab as rl

    texts = rl.stimuli.load(args.texts).items
    res = rl.surprisal(rl.zoo.load(args.model), texts)
    df = res.to_pandas("token" if args.tokens else "word")
    print(df.to_string(float_format=lambda v: f"{v:.3f}", index=False))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        df.to_csv(out / "surprisal.csv", index=False)
        print(f"wrote {out / 'surprisal.csv'}")
    return 0


COMMANDS: dict[str, tuple[Callable[[Any], None], Callable[[argparse.Namespace], int]]] = {
    "measures": (_parser_measures, _cmd_measures),
    "compare": (_parser_compare, _cmd_compare),
    "extract": (_parser_extract, _cmd_extract),
    "describe": (_parser_describe, _cmd_describe),
    "report": (_parser_report, _cmd_report),
    "demo": (_parser_demo, _cmd_demo),
    "encode": (_parser_encode, _cmd_encode),
    "surprisal": (_parser_surprisal, _cmd_surprisal),
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
