"""A self-contained HTML report built from a results directory.

A results directory holds result files (``*.json`` written by :meth:`ComparisonResult.save`, by
``reprlab describe`` or by the demo) and, optionally, ``manifest.json`` that says what was run and
how to lay the report out (sections with text, figures and tables). Without a manifest each matrix
result gets a section with its heatmap and its table. Figures are embedded as PNG data URIs with alt
text (the SVG files sit beside them), so the one file can be opened, shared and archived. Every
number shown in a table is read from the JSON it cites, and carries the full value in ``data-value``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ReprlabError

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1a1a1a;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
.meta{color:#444;font-size:.92em}figure{margin:1em 0;display:inline-block;vertical-align:top;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.88em;color:#333;max-width:640px}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.82em;margin:.6em 0 1.2em 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:.2em .45em;text-align:right}th{background:#f3f3f3}
td.label,th.label{text-align:left}details{margin:.4em 0}code{background:#f5f5f5;padding:0 .2em}
.note{background:#f7f7f2;border-left:3px solid #b8a400;padding:.4em .8em;font-size:.9em}
small.ci,small.p{color:#555;white-space:nowrap}
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3g}"
    return str(v)


def _img(path: Path, alt: str, caption: str, scale: str = "") -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    svg = path.with_suffix(".svg")
    link = f' <a href="{_esc(svg.name)}">SVG</a>' if svg.exists() else ""
    attr = f' data-scale="{_esc(scale)}"' if scale else ""
    return (
        f'<figure{attr}><img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'
        f"<figcaption>{_esc(caption)}{link}</figcaption></figure>"
    )


def provenance(doc: Any) -> str:
    """What produced a result, from its own metadata: measure and parameters, models (stores), stimuli,
    dtype, device and library version. Empty for a file without that metadata."""
    if not isinstance(doc, Mapping) or "measure" not in doc:
        return ""
    meta = doc.get("meta") or {}
    params = {k: v for k, v in (doc.get("params") or {}).items() if not isinstance(v, (list, dict))}
    parts = [f"measure {doc['measure']}"]
    if params:
        parts.append("parameters " + ", ".join(f"{k}={v!r}" for k, v in params.items()))
    for side in ("A", "B"):
        if meta.get(f"{side}_model"):
            stimuli = f", stimuli {meta[f'{side}_stimuli']}" if meta.get(f"{side}_stimuli") else ""
            parts.append(f"{side}: model {meta[f'{side}_model']}{stimuli}")
    if "n_stimuli" in meta:
        parts.append(f"{meta['n_stimuli']} stimuli")
    parts += [f"{k} {meta[k]}" for k in ("dtype", "device", "path") if k in meta]
    if "library_version" in meta:
        parts.append(f"reprlab {meta['library_version']}")
    return "; ".join(parts)


def _interval_note(doc: Mapping[str, Any]) -> str:
    """What the brackets and p-values in a matrix table are, from the result's own metadata."""
    meta = doc.get("meta", {})
    notes = []
    iv = meta.get("intervals")
    if iv and doc.get("ci_low") is not None:
        notes.append(
            f"[low, high]: {iv['ci']:.0%} {iv['method']} bootstrap interval over stimuli ({iv['rule']} rule, "
            f"{iv['n']} resamples)"
        )
    pv = meta.get("p_values")
    if pv and doc.get("p") is not None:
        notes.append(
            f"p: {pv['test']} p-value ({pv['alternative']}, {pv['n']} permutations of the stimuli, not corrected "
            "for the number of cells)"
        )
    return f'<p class="meta">{_esc("; ".join(notes))}.</p>' if notes else ""


def _cell(doc: Mapping[str, Any], i: int, j: int) -> str:
    v = doc["values"][i][j]
    attrs, extra = [f'data-value="{_esc(repr(v))}"'], ""
    lo, hi = (doc[k][i][j] if doc.get(k) is not None else None for k in ("ci_low", "ci_high"))
    if lo is not None and hi is not None:
        attrs += [f'data-ci-low="{_esc(repr(lo))}"', f'data-ci-high="{_esc(repr(hi))}"']
        extra += f'<br><small class="ci">[{_fmt(lo)}, {_fmt(hi)}]</small>'
    p = doc["p"][i][j] if doc.get("p") is not None else None
    if p is not None:
        attrs.append(f'data-p="{_esc(repr(p))}"')
        extra += f'<br><small class="p">p = {p:.3g}</small>'
    return f"<td {' '.join(attrs)}>{_fmt(v)}{extra}</td>"


def matrix_table(doc: Mapping[str, Any], source: str) -> str:
    """An HTML table of a ``rows x cols`` result with each cell's full value in ``data-value``, and its
    bootstrap interval (``data-ci-low`` / ``data-ci-high``) and p-value (``data-p``) where the result
    carries them (:func:`reprlab.stats.bootstrap_all`, :func:`reprlab.stats.permutation_test_all`)."""
    head = "".join(f'<th scope="col">{_esc(c)}</th>' for c in doc["cols"])
    body = []
    for i, r in enumerate(doc["rows"]):
        cells = "".join(_cell(doc, i, j) for j in range(len(doc["cols"])))
        body.append(f'<tr><th scope="row" class="label">{_esc(r)}</th>{cells}</tr>')
    table = (
        f'<div class="scroll"><table data-source="{_esc(source)}"><thead><tr><th class="label"></th>{head}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table></div>{_interval_note(doc)}"
    )
    if len(doc["cols"]) > 12:  # large matrices: folded, so the page stays readable
        n, m = len(doc["rows"]), len(doc["cols"])
        return f"<details><summary>All {n} x {m} values</summary>{table}</details>"
    return table


def records_table(records: Sequence[Mapping[str, Any]], source: str, columns: Sequence[str] | None = None) -> str:
    """An HTML table of a list of flat records (e.g. one row per layer)."""
    if not records:
        return ""
    cols = list(columns or records[0].keys())
    head = "".join(f'<th scope="col" class="label">{_esc(c)}</th>' for c in cols)
    body = []
    for rec in records:
        cells = []
        for c in cols:
            v = rec.get(c)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                cells.append(f'<td data-value="{_esc(repr(v))}">{_fmt(v)}</td>')
            else:
                cells.append(f'<td class="label">{_esc(_fmt(v))}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table data-source="{_esc(source)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _is_matrix(doc: Any) -> bool:
    return isinstance(doc, dict) and {"rows", "cols", "values"} <= set(doc)


def _auto_sections(root: Path) -> list[dict[str, Any]]:
    """One section per matrix result (heatmap + table) when there is no manifest."""
    from ..results import ComparisonResult
    from . import figures

    sections = []
    for path in sorted(root.glob("*.json")):
        doc = json.loads(path.read_text())
        if not _is_matrix(doc):
            continue
        res = ComparisonResult.from_dict(doc)
        stem = path.stem
        figures.save(res.plot(), root / "figures", stem)
        scale = figures.scale_label(res.measure)
        between = (
            f"between {res.rows[0]} and {res.cols[0]}"
            if len(res.rows) == len(res.cols) == 1
            else "for every pair of representations"
        )
        sections.append(
            {
                "title": f"{doc.get('measure', stem)}",
                "text": f"From {path.name}: {len(res.rows)} x {len(res.cols)} values.",
                "figures": [
                    {
                        "file": f"figures/{stem}.png",
                        "alt": f"Heatmap of {doc.get('measure', stem)} between {len(res.rows)} and "
                        f"{len(res.cols)} representations; the table below lists every value.",
                        "caption": f"{doc.get('measure', stem)} {between}." + (f" Colour: {scale}." if scale else ""),
                        "scale": scale,
                    }
                ],
                "tables": [{"file": path.name}],
            }
        )
    return sections


def build_report(results_dir: str | Path, out: str | Path | None = None, title: str | None = None) -> Path:
    """Write ``report.html`` for ``results_dir`` (or ``out``) and return its path."""
    root = Path(results_dir)
    if not root.is_dir():
        raise ReprlabError(f"`results_dir` {str(root)!r} is not a directory of results.")
    manifest_path = root / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    sections = manifest.get("sections") or _auto_sections(root)
    if not sections:
        raise ReprlabError(
            f"No results found in {str(root)!r}: expected JSON files written by `reprlab compare`, "
            "`reprlab describe` or `reprlab demo`."
        )
    title = title or manifest.get("title", "reprlab report")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
    ]
    run = dict(manifest.get("run", {}))
    run.setdefault("reprlab version", __version__)
    run.setdefault("report built", _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    parts.append('<div class="meta"><h2>What was run</h2><table>')
    for k, v in run.items():
        shown = json.dumps(v) if isinstance(v, (dict, list)) else str(v)
        parts.append(f'<tr><th class="label">{_esc(k)}</th><td class="label">{_esc(shown)}</td></tr>')
    parts.append("</table></div>")
    if manifest.get("summary"):
        parts.append(f'<p class="note">{_esc(manifest["summary"])}</p>')
    for sec in sections:
        parts.append(f"<section><h2>{_esc(sec['title'])}</h2>")
        if sec.get("text"):
            parts.append(f"<p>{_esc(sec['text'])}</p>")
        for fig in sec.get("figures", []):
            p = root / fig["file"]
            if not p.exists():
                raise ReprlabError(f"The manifest names a figure that is missing: {p}.")
            parts.append(_img(p, fig["alt"], fig.get("caption", ""), fig.get("scale", "")))
        for tab in sec.get("tables", []):
            src = root / tab["file"]
            doc = json.loads(src.read_text())
            made_by = provenance(doc)
            if made_by:
                parts.append(f'<p class="meta provenance">From {_esc(tab["file"])}: {_esc(made_by)}.</p>')
            caption = tab.get("caption")
            if caption:
                parts.append(f"<p><strong>{_esc(caption)}</strong> <small>({_esc(tab['file'])})</small></p>")
            if _is_matrix(doc):
                parts.append(matrix_table(doc, tab["file"]))
            else:
                key = tab.get("key")
                records = doc[key] if key else doc
                parts.append(records_table(records, tab["file"], tab.get("columns")))
        parts.append("</section>")
    parts.append(
        f'<p class="meta">Made with reprlab {_esc(__version__)}. Every number above is read from the JSON '
        "file named beside its table; figures are also saved as PNG and SVG in figures/.</p></body></html>"
    )
    out_path = Path(out) if out else root / "report.html"
    out_path.write_text("\n".join(parts), encoding="utf-8")
    return out_path
