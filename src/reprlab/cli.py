"""The ``reprlab`` command line: a thin layer over the public API.

Each subcommand is a ``_cmd_<name>(args)`` function and a ``_parser_<name>(sub)`` that declares its
arguments with an example in its help. Errors from the library are printed without a traceback.
"""

from __future__ import annotations

import argparse
import re
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
    try:
        if p.suffix == ".npy":
            return {p.stem: np.load(p, allow_pickle=False)}
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
    except ValueError as err:
        if "allow_pickle" not in str(err):
            raise ReprlabError(f"Input {path!r} cannot be read as a NumPy file: {err}") from None
        raise ReprlabError(
            f"Input {path!r} holds Python objects (a pickled object array), which reprlab does not load: "
            "unpickling can run arbitrary code. Save the numbers as a numeric array instead, e.g. "
            "np.save(path, x.astype(float))."
        ) from None
    raise ReprlabError(f"Input {path!r}: expected a .npy or .npz file or an activation store directory.")


def _writable_dir(path: str, flag: str = "--out") -> Path:
    """``path`` as a directory that exists and can be written to, checked before any computation."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".reprlab-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ReprlabError(
            f"{flag} {path!r}: cannot write there ({err.strerror or err}). Choose a folder you can write to."
        ) from None
    return out


def _cli_words(message: str, parser: argparse.ArgumentParser) -> str:
    """A library message in the command line's words: `name` and name=value become the command's
    options (--name VALUE), and the Python functions become the reprlab commands."""
    text = re.sub(r" \(CLI: [^)]*\)", "", message)
    text = re.sub(r"\breprlab\.describe(_all)?\b(\([^)]*\))?", "`reprlab describe`", text)
    text = re.sub(r"\breprlab\.compare(_all)?\b(\([^)]*\))?", "`reprlab compare`", text)
    for action in parser._actions:
        flags = [f for f in action.option_strings if f.startswith("--")]
        if not flags or action.dest == "help":
            continue
        flag, dest = flags[0], action.dest
        text = text.replace(f"`{dest}`", flag)
        text = re.sub(rf"\b{dest}=True\b", flag, text)
        text = re.sub(rf"(?<!\()(?<!, )\b{dest}=([\w.'\"-]+)", lambda m, flag=flag: f"{flag} {m.group(1)}", text)
    return text


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join("{:<" + str(w) + "}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


# --- reprlab measures -------------------------------------------------------------------------

_INVARIANCE_CODES = {
    "permutation": "P",
    "orthogonal": "O",
    "isotropic_scaling": "S",
    "translation": "T",
    "invertible_linear": "L",
    "affine": "A",
}


def _short_row(i: Any) -> list[str]:
    lo, hi = i.range
    return [
        i.name,
        i.kind,
        i.family,
        "larger" if i.larger_is_similar else "smaller",
        "yes" if i.is_metric or any(v.is_metric for v in i.variants) else "no",
        ("yes" if i.symmetric else "no") + ("*" if i.asymmetric_when else ""),
        f"[{lo:.3g}, {hi:.3g}]",
        "".join(sorted(_INVARIANCE_CODES[k] for k in i.invariances)) or "-",
    ]


def _measure_details(i: Any) -> str:
    lo, hi = i.range
    lines = [
        f"{i.name} ({i.kind}, family {i.family}): {i.summary}",
        f"  larger values mean {'more' if i.larger_is_similar else 'less'} similar; range [{lo:.4g}, {hi:.4g}]; "
        f"metric: {'yes' if i.is_metric else 'no'}; symmetric: {'yes' if i.symmetric else 'no'}"
        + "".join(f" (not with {k}={'/'.join(map(str, v))})" for k, v in i.asymmetric_when.items()),
        f"  invariant to: {', '.join(sorted(i.invariances)) or 'none declared'}",
        "  parameters:" if i.params else "  parameters: none",
    ]
    lines += [f"    {k}={p.default!r}: {p.doc}" for k, p in i.params.items() if not p.data]
    lines += [f"    {k} (data): {p.doc}" for k, p in i.params.items() if p.data]
    for v in i.variants:
        setting = ", ".join(f"{k}={x!r}" for k, x in v.params.items())
        lines.append(
            f"  with {setting}: {'larger' if v.larger_is_similar else 'smaller'} = more similar, range "
            f"[{v.range[0]:.4g}, {v.range[1]:.4g}], metric: {'yes' if v.is_metric else 'no'}"
            + (f"; {v.note}" if v.note else "")
        )
    lines.append("  references:")
    lines += [f"    {r}" for r in i.references]
    return "\n".join(lines)


def _parser_measures(sub: Any) -> None:
    p = sub.add_parser(
        "measures",
        help="list the measures and their properties",
        description=(
            "List every registered measure with its properties (a table that fits 120 columns), or one\n"
            "measure in full: parameters, variants, references.\n\n"
            "Examples:\n  reprlab measures --kind compare\n  reprlab measures cka"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", nargs="?", help="show this measure in full")
    p.add_argument("--kind", choices=["compare", "describe"], help="only this kind")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table (for the docs)")


def _cmd_measures(args: argparse.Namespace) -> int:
    import reprlab as rl

    if args.name:
        print(_measure_details(rl.measures.info(args.name)))
        return 0
    infos = rl.measures.available(kind=args.kind)
    if not args.markdown:
        print(
            _table(
                [_short_row(i) for i in infos],
                ["name", "kind", "family", "similar", "metric", "sym", "range", "invariances"],
            )
        )
        codes = ", ".join(f"{v}={k}" for k, v in _INVARIANCE_CODES.items())
        print(
            f"\n{len(infos)} measures; sym *: not symmetric for some parameters.\nInvariances: {codes}".replace(
                ", lin", ",\n  lin"
            )
        )
        print("Parameters, variants and references of one measure: reprlab measures NAME")
        return 0
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
    out = _writable_dir(args.out) if args.out else None
    A = _load_arrays(args.inputs[0])
    B = _load_arrays(args.inputs[1]) if len(args.inputs) == 2 else None
    if B is None and len(A) < 2:
        raise ReprlabError(
            f"{args.inputs[0]!r} holds one array, and one input is compared with itself array by array. Give a "
            f"second input (reprlab compare {args.inputs[0]} OTHER.npy) or a .npz / store with several arrays."
        )
    results = []
    for spec in measures:
        res = rl.compare_all(A, B, spec, dtype=args.dtype, device=args.device)
        results.append(res)
        if res.values.shape == (1, 1):
            print(f"{res.measure}\t{res.rows[0]} vs {res.cols[0]}\t{res.values[0, 0]:.10g}")
        else:
            print(f"# {res.measure}")
            print(res.to_pandas().to_string(float_format=lambda v: f"{v:.4f}"))
    if out is not None:
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

    out = _writable_dir(args.out) if args.out else None
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
    if out is not None:
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

    _writable_dir(args.out)
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

    _writable_dir(args.out)
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

    if args.out:
        _writable_dir(str(Path(args.out).parent))
    path = build_report(args.results, out=args.out, title=args.title)
    print(f"wrote {path}")
    return 0


# --- reprlab verify ---------------------------------------------------------------------------


def _parser_verify(sub: Any) -> None:
    p = sub.add_parser(
        "verify",
        help="check an activation store: every chunk against the checksum written with it",
        description=(
            "Read every chunk of every layer of an activation store and check it against the rows and\n"
            "checksum recorded when it was written. Exit code 0: intact; 1: damaged (each damaged part is\n"
            "listed; re-run the same `reprlab extract` command to re-extract only those rows).\n\n"
            "Example:\n  reprlab verify acts.zarr"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("store", help="activation store directory (written by `reprlab extract`)")


def _cmd_verify(args: argparse.Namespace) -> int:
    from .store.integrity import read_attrs, repair_hint, verify_store

    damages = verify_store(args.store)
    attrs = read_attrs(Path(args.store))
    if not damages:
        done, n = attrs.get("n_done"), attrs.get("n_stimuli")
        state = "" if attrs.get("complete") else f" (incomplete: {done} of {n} stimuli)"
        print(f"{args.store}: intact, {len(attrs.get('layers', []))} layer(s) checked{state}")
        return 0
    print(f"{args.store}: {len(damages)} damaged part(s)")
    for d in damages:
        print(f"  {d.describe(attrs.get('stimulus_ids'))}")
    print(repair_hint(Path(args.store)))
    return 1
# --- reprlab lens / reprlab heads ---------------------------------------------------------------


def _parser_lens(sub: Any) -> None:
    p = sub.add_parser(
        "lens",
        help="logit lens (or a trained tuned lens) of a zoo language model over prompts",
        description=(
            "Read every residual state of a language model through its own final norm and unembedding\n"
            "(the logit lens), or through a tuned lens trained with rl.lens.train_tuned_lens and saved.\n"
            "Prints, per layer, the mean KL to the model's output, the entropy, the cross-entropy to\n"
            "the next token and the top token at the last position of the first prompt.\n\n"
            "Examples:\n"
            "  reprlab lens --model smollm2-135m --prompts prompts.txt\n"
            "  reprlab lens --model smollm2-135m --prompt 'The capital of France is' --target ' Paris'\n"
            "  reprlab lens --model smollm2-135m --prompts lee50 --tuned smol.lens.pt --figure kl.png"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="zoo language model id (smollm2-135m)")
    p.add_argument("--prompts", help="a text file (one prompt a line), a .csv (with --column) or a packaged set")
    p.add_argument("--column", help="CSV: the column holding the prompts")
    p.add_argument("--prompt", action="append", help="a prompt given on the command line (repeatable)")
    p.add_argument("--target", help="a one-token target whose rank per layer is printed (e.g. ' Paris')")
    p.add_argument("--tuned", help="a tuned lens file (TunedLens.save) to use instead of the logit lens")
    p.add_argument("--figure", help="write the KL-by-layer curve to this image file (.png, .svg)")
    p.add_argument("--json", help="write the per-layer table to this JSON file")


def _lens_prompts(args: argparse.Namespace) -> list[str]:
    import reprlab as rl

    texts = list(rl.stimuli.load(args.prompts, column=args.column).items) if args.prompts else []
    texts += list(args.prompt or [])
    if not texts:
        raise ReprlabError("give prompts with --prompts FILE or --prompt TEXT.")
    return texts


def _cmd_lens(args: argparse.Namespace) -> int:
    import json

    import reprlab as rl

    texts = _lens_prompts(args)
    lm = rl.zoo.load(args.model)
    if args.tuned:
        res = rl.lens.tuned_lens(lm, texts, rl.lens.TunedLens.load(args.tuned), targets=args.target)
    else:
        res = rl.lens.logit_lens(lm, texts, targets=args.target)
    stats = {s: res.by_layer(s) for s in ("kl_to_final", "entropy")}
    if all((res.index.stimulus == p).sum() > 1 for p in range(len(texts))):  # a next token in every prompt
        stats["cross_entropy"] = res.by_layer("cross_entropy")
    rows = []
    for i, layer in enumerate(res.layers):
        top = res.top_tokens(layer, -1, k=1)[0][0]
        row = [layer] + [f"{stats[s][i]:.3f}" for s in stats] + [repr(top)]
        if res.target_rank is not None:
            row.append(str(int(np.median(res.target_rank[i]))))
        rows.append(row)
    header = ["layer", "KL to final", "entropy"] + (["CE next"] if "cross_entropy" in stats else [])
    header += ["top (prompt 0, last)"]
    header += ["target rank (median)"] if res.target_rank is not None else []
    print(f"{res.kind} lens, {len(texts)} prompt(s), {res.kl_to_final.shape[1]} tokens (nats)")
    print(_table(rows, header))
    if args.json:
        table = {"kind": res.kind, "layers": res.layers, **{s: v.tolist() for s, v in stats.items()}}
        Path(args.json).write_text(json.dumps(table, indent=1))
    if args.figure:
        from .lens.figures import kl_by_layer

        kl_by_layer({f"{res.kind} lens": res}).savefig(args.figure, dpi=120, bbox_inches="tight")
        print(f"wrote {args.figure}")
    return 0


def _parser_heads(sub: Any) -> None:
    p = sub.add_parser(
        "heads",
        help="score every attention head (previous-token, induction, duplicate-token, first-token)",
        description=(
            "Score every attention head of a zoo language model by where it looks: previous-token,\n"
            "induction (on repeated random token sequences), duplicate-token or first-token (sink).\n"
            "Prints the top heads; --figure writes the layers x heads map.\n\n"
            "Examples:\n"
            "  reprlab heads --model smollm2-135m --kind induction --top 10\n"
            "  reprlab heads --model smollm2-135m --kind previous_token --prompts lee50 --figure prev.png"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="zoo language model id (smollm2-135m)")
    p.add_argument(
        "--kind",
        action="append",
        choices=["previous_token", "induction", "duplicate_token", "first_token"],
        help="score kind (repeatable; default: all four)",
    )
    p.add_argument("--prompts", help="texts for the non-induction scores (default: repeated random sequences)")
    p.add_argument("--column", help="CSV: the column holding the prompts")
    p.add_argument("--top", type=int, default=5, help="how many top heads to print per kind")
    p.add_argument("--sequences", type=int, default=20, help="random repeated sequences")
    p.add_argument("--length", type=int, default=25, help="tokens in each half of a random sequence")
    p.add_argument("--figure", help="write the head-score map(s) to this image file")


def _cmd_heads(args: argparse.Namespace) -> int:
    import reprlab as rl

    prompts = list(rl.stimuli.load(args.prompts, column=args.column).items) if args.prompts else None
    lm = rl.zoo.load(args.model)
    kinds = args.kind or list(rl.heads.KINDS)
    results = [rl.heads.score(lm, prompts, kind=k, n_sequences=args.sequences, length=args.length) for k in kinds]
    for res in results:
        print(f"{res.kind}: top {args.top} of {res.values.size} heads")
        print(_table([[name, f"{v:.3f}"] for name, v in res.top(args.top)], ["head", "score"]))
    if args.figure:
        from .lens.figures import head_maps

        head_maps(results).savefig(args.figure, dpi=120, bbox_inches="tight")
        print(f"wrote {args.figure}")
    return 0


# --- reprlab steer ----------------------------------------------------------------------------


def _parser_steer(sub: Any) -> None:
    p = sub.add_parser(
        "steer",
        help="generate text with a steering vector added to one layer of a zoo language model",
        description=(
            "Add alpha * v to the output of one layer (every position) and generate greedily, once per alpha\n"
            "(alpha 0 is the unsteered model). v is a sentiment direction read from VADER contrast pairs\n"
            "(--direction sentiment) or a vector saved with numpy.save (--direction v.npy).\n\n"
            "Examples:\n"
            "  reprlab steer --model smollm2-135m --layer model.layers.8 --prompt 'I think the weather is' "
            "--alpha -2 --alpha 0 --alpha 2\n"
            "  reprlab steer --model smollm2-135m --layer model.layers.8 --direction v.npy --prompt 'Hello' "
            "--alpha 4 --out steer.json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", default="smollm2-135m", help="zoo language model id (default smollm2-135m)")
    p.add_argument("--layer", required=True, help="module name, e.g. model.layers.8")
    p.add_argument("--prompt", required=True, help="text to continue")
    p.add_argument("--direction", default="sentiment", help="'sentiment' (VADER contrast pairs) or a .npy vector")
    p.add_argument("--method", default="mean_diff", choices=["mean_diff", "pca", "logistic"], help="for 'sentiment'")
    p.add_argument("--alpha", action="append", type=float, help="scale (repeatable; default -2, 0, 2)")
    p.add_argument("--max-new-tokens", type=int, default=20)
    p.add_argument("--out", help="write the continuations as JSON here")


def _cmd_steer(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    import reprlab as rl
    from reprlab.intervene.steering import sentiment_direction, steer_generate

    lm = rl.zoo.load(args.model)
    if args.direction == "sentiment":
        v = sentiment_direction(lm, args.layer, method=args.method)
    else:
        v = np.load(args.direction)
    alphas = args.alpha or [-2.0, 0.0, 2.0]
    texts = steer_generate(
        lm, v, layer=args.layer, prompt=args.prompt, alphas=alphas, max_new_tokens=args.max_new_tokens
    )
    for a, text in texts.items():
        print(f"alpha={a:+g}: {args.prompt}{text}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(
                {"prompt": args.prompt, "layer": args.layer, "continuations": {str(a): t for a, t in texts.items()}},
                f,
                indent=2,
            )
        print(f"wrote {args.out}")
    return 0


# --- reprlab probe ----------------------------------------------------------------------------


def _parser_probe(sub: Any) -> None:
    p = sub.add_parser(
        "probe",
        help="cross-validated probes of labels from every layer of an activation store",
        description=(
            "Probe labels from each layer of a store written by `reprlab extract` (grouped folds: for a\n"
            "token-level store no stimulus is split across folds), with a bootstrap CI over groups, a\n"
            "permutation p (BH-adjusted across layers) and optionally a control task and selectivity.\n\n"
            "Example:\n  reprlab probe acts.zarr --labels labels.txt --kind logistic --control shuffle --out probe/"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("store", help="activation store (directory written by reprlab extract)")
    p.add_argument("--labels", required=True, help="one label per row: .npy, or a text file with one label per line")
    p.add_argument("--kind", default="logistic", choices=["logistic", "ridge", "mlp", "mdl"])
    p.add_argument("--layers", nargs="*", help="layers to probe (default: all)")
    p.add_argument("--control", choices=["task", "shuffle", "random"], help="also run a control and report selectivity")
    p.add_argument("--types", help="control task: word type per row (.npy or one per line)")
    p.add_argument("--cv", type=int, default=5)
    p.add_argument("--permutations", type=int, default=100, help="permutations for the p-value (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="directory for probe.json and probe.csv")


def _read_column(path: str, what: str) -> Any:
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise ReprlabError(f"`--{what}`: no such file {path!r}.")
    if p.suffix == ".npy":
        return np.load(p, allow_pickle=False)
    values = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    for cast in (int, float):  # integers are class labels, other numbers a continuous target
        try:
            return np.array([cast(v) for v in values])
        except ValueError:
            continue
    return np.array(values)


def _cmd_probe(args: argparse.Namespace) -> int:
    import json

    import reprlab as rl

    acts = rl.Activations.open(args.store)
    y = _read_column(args.labels, "labels")
    types = _read_column(args.types, "types") if args.types else None
    kw: dict[str, Any] = {"cv": args.cv, "seed": args.seed, "control": args.control, "types": types}
    if args.kind != "mdl":
        kw["n_permutations"] = args.permutations
    else:
        kw = {"seed": args.seed, "control": args.control, "types": types}
    res = rl.probe_layers(acts, y, args.kind, layers=args.layers or "all", **kw)
    rows = [r.to_dict() for r in res.values()]
    for r in res.values():
        print(r)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "probe.json").write_text(json.dumps(rows, indent=1))
        cols = list(rows[0])
        lines = [",".join(cols)] + [",".join("" if r[c] is None else str(r[c]) for c in cols) for r in rows]
        (out / "probe.csv").write_text("\n".join(lines) + "\n")
        print(f"wrote {out}/probe.json and probe.csv")
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
    t.add_argument("--lr", type=float, help="Adam learning rate (default 2e-4 / sqrt(latents / 2^14))")
    t.add_argument("--dead-after", type=int, help="tokens without firing before AuxK counts a latent dead")
    t.add_argument("--auxk-alpha", type=float, default=1 / 32, help="AuxK coefficient (topk, batchtopk)")
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
            batch_size=args.batch_size, device=args.device, seed=args.seed, l1_coeff=args.l1_coeff, lr=args.lr,
            dead_after=args.dead_after, auxk_alpha=args.auxk_alpha, checkpoint=args.checkpoint,
            progress=not args.quiet,
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
    "verify": (_parser_verify, _cmd_verify),
    "lens": (_parser_lens, _cmd_lens),
    "heads": (_parser_heads, _cmd_heads),
    "steer": (_parser_steer, _cmd_steer),
    "probe": (_parser_probe, _cmd_probe),
    "sae": (_parser_sae, _cmd_sae),
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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except (ReprlabError, ReprlabTypeError, MissingDependencyError) as err:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        print(f"reprlab {args.command}: error: {_cli_words(str(err), sub.choices[args.command])}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
