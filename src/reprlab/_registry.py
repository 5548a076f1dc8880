"""The registry of measures: metadata kept beside the code, and the public boundary.

A measure is registered with :func:`register`, which records its :class:`MeasureInfo` and wraps its
*core* (a pure function on checked torch tensors) in a public function that validates inputs and
parameters once. A measure may split its work into ``prepare`` (per representation: centering, Gram
matrices, ranks, whitening, ...) and the core (per pair), so that :func:`reprlab.compare_all` does the
per-representation work once. The plain function is always ``core(prepare(X), prepare(Y))``: one code
path.

Optional fast paths are declared with the measure, as a typed :class:`Hooks`. The registry is filled
when the families are imported: ``reprlab/__init__.py`` imports ``reprlab.measures`` and
``reprlab.describe``, which import each family by name, and Python runs that ``__init__`` before any
``reprlab.*`` module, so the lookups here (:func:`get`, :func:`available`) see every measure.

Measure specs are strings such as ``"cka(kernel=rbf, sigma=0.8)"`` (see :func:`parse_spec`).
"""

from __future__ import annotations

import ast
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import torch

from ._validation import as_tensor, check_comparable, check_same_rows, to_python
from .errors import ReprlabError, ReprlabTypeError, close_matches

INVARIANCES = frozenset(
    {"permutation", "orthogonal", "isotropic_scaling", "translation", "invertible_linear", "affine"}
)
KINDS = ("compare", "describe")


@dataclass(frozen=True)
class Param:
    """One parameter of a measure: its default, the allowed values, and how to check a value.

    ``choices`` lists the allowed values of a categorical parameter; ``types`` the accepted Python
    types of a free one; ``check`` returns an error string (or ``None``) for a value. ``data=True``
    marks per-stimulus data (labels, partitions, noise matrices) that cannot be written in a spec
    string. ``doc`` is one line shown by ``reprlab measures`` and in the docs.
    """

    default: Any
    choices: tuple[Any, ...] | None = None
    types: tuple[type, ...] | None = None
    check: Callable[[Any], str | None] | None = None
    data: bool = False
    doc: str = ""

    def validate(self, value: Any, pname: str, measure: str) -> Any:
        if value is None and self.default is None:
            return None
        if self.choices is not None:
            if value not in self.choices:
                raise ReprlabError(
                    f"The {pname!r} parameter of {measure!r} must be one of "
                    f"{', '.join(repr(c) for c in self.choices)}; got {value!r}."
                    + close_matches(str(value), [str(c) for c in self.choices])
                )
            return value
        if self.types is not None:
            if isinstance(value, bool) and bool not in self.types:
                ok = False
            else:
                ok = isinstance(value, self.types)
            if not ok:
                names = " or ".join(t.__name__ for t in self.types)
                raise ReprlabError(
                    f"The {pname!r} parameter of {measure!r} must be of type {names}; "
                    f"got {value!r} ({type(value).__name__})."
                )
        if self.check is not None:
            msg = self.check(value)
            if msg:
                raise ReprlabError(f"The {pname!r} parameter of {measure!r} {msg}; got {value!r}.")
        return value


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def positive(v: object) -> str | None:
    """A ``Param.check``: a number > 0."""
    return None if _is_number(v) and v > 0 else "must be a positive number"


def nonnegative(v: object) -> str | None:
    """A ``Param.check``: a number >= 0."""
    return None if _is_number(v) and v >= 0 else "must be a number >= 0"


def positive_int(v: object) -> str | None:
    """A ``Param.check``: an integer > 0 (not a bool)."""
    return None if isinstance(v, int) and not isinstance(v, bool) and v > 0 else "must be a positive integer"


def int_at_least(lo: int) -> Callable[[object], str | None]:
    """A ``Param.check`` factory: an integer >= ``lo`` (not a bool)."""

    def check(v: object) -> str | None:
        ok = isinstance(v, int) and not isinstance(v, bool) and v >= lo
        return None if ok else f"must be an integer >= {lo}"

    return check


@dataclass(frozen=True)
class Variant:
    """The properties of a measure under other parameter values than the defaults."""

    params: Mapping[str, Any]
    larger_is_similar: bool
    is_metric: bool
    invariances: frozenset[str]
    range: tuple[float, float]
    note: str = ""


@dataclass(frozen=True)
class MeasureInfo:
    """What a measure is and which properties it has (at its default parameters).

    ``is_metric`` means the metric axioms (symmetry, identity, triangle inequality) hold in the
    declared form; ``variants`` lists other parameter settings whose properties differ (for example
    ``cka(angular=True)`` is an angular distance and a metric, plain ``cka`` a similarity).
    ``references`` cites the papers and names the reference implementation whose values it matches.
    ``streamable`` (the measure has a streaming form for some parameter values) and ``capabilities``
    (the names of its :class:`Hooks`) are derived from the hooks given to :func:`register`.
    ``asymmetric_when`` lists parameter values under which a symmetric measure is not symmetric (e.g.
    ``{"summary": ("pwcca",)}``); :meth:`symmetric_for` applies it.
    """

    name: str
    kind: str
    family: str
    params: Mapping[str, Param]
    larger_is_similar: bool
    is_metric: bool
    symmetric: bool
    invariances: frozenset[str]
    range: tuple[float, float]
    references: tuple[str, ...]
    summary: str = ""
    variants: tuple[Variant, ...] = ()
    input_ndim: int = 2
    streamable: bool = False
    differentiable: bool = True
    capabilities: tuple[str, ...] = ()
    asymmetric_when: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def variant_for(self, params: Mapping[str, Any]) -> Variant:
        """The properties at ``params``: the first variant whose parameters all match, else the declared ones."""
        for v in self.variants:
            if v.params and all(params.get(k) == x for k, x in v.params.items()):
                return v
        return self.property_cases()[0]

    def defined_on_constant(self, params: Mapping[str, Any], first: bool) -> bool:
        """Whether a value on a constant input is mathematically defined: a distance (to a single point),
        or the variance explained by a constant predictor (the first input of ``linear_regression``)."""
        return not self.variant_for(params).larger_is_similar or (self.name == "linear_regression" and first)

    def scale_invariant_for(self, params: Mapping[str, Any]) -> bool:
        """Whether the value is unchanged when one input is multiplied by a positive number, at ``params``
        (the properties of the first variant whose parameters all match, else the declared ones). A
        numeric parameter away from its default (a fixed bandwidth, an epsilon) can carry a scale of its
        own, so then the answer is conservatively no."""
        for k, v in params.items():
            if isinstance(v, float) and k in self.params and v != self.params[k].default:
                return False
        return "isotropic_scaling" in self.variant_for(params).invariances

    def symmetric_for(self, params: Mapping[str, Any]) -> bool:
        """Whether ``m(X, Y) == m(Y, X)`` under these parameter values."""
        full = {**self.defaults(), **params}
        return self.symmetric and not any(full.get(k) in vals for k, vals in self.asymmetric_when.items())

    def defaults(self) -> dict[str, Any]:
        """The default value of every parameter."""
        return {k: p.default for k, p in self.params.items()}

    def property_cases(self) -> list[Variant]:
        """The defaults and every variant, each with its declared properties (used by the tests)."""
        base = Variant({}, self.larger_is_similar, self.is_metric, self.invariances, self.range)
        return [base, *self.variants]


@dataclass(frozen=True)
class Hooks:
    """A measure's optional fast paths, each ``None`` when the measure does not provide it.

    Passed to :func:`register` as ``hooks=Hooks(...)``; the capability flags of :class:`MeasureInfo`
    (``streamable``, ``capabilities``) are derived from it, and docs/engine.md's capability table is
    generated from them (tests/engine/test_capabilities.py keeps the two equal).

    * ``all_pairs(A, B, params, options) -> Tensor | None``: the whole matrix of
      :func:`reprlab.compare_all` from the lists of checked in-memory tensors (``B`` None: within
      ``A``), or None to decline (e.g. for parameter values it does not cover);
    * ``stream(params) -> reprlab.stream.StreamSpec | None``: the measure as a function of accumulated
      centred cross-moments (streaming over stores, Dask), or None for parameters that cannot stream;
    * ``pair_matrix(P, **params) -> Tensor`` and ``compare_pairs(dx, dy, **params) -> Tensor``: a
      pairwise-distance measure (RSA) as a comparison of its n x n pair matrices, which the resampling
      statistics use for the distinct-pairs rule (:mod:`reprlab.stats.resampling`); both or neither;
    * ``influence(PX, PY, **params) -> Tensor``: the per-stimulus influence of a measure that is a mean
      of per-stimulus terms (the linearised kNN measures), for the statistics' linearised bootstrap.
    """

    all_pairs: Callable[..., Any] | None = None
    stream: Callable[..., Any] | None = None
    pair_matrix: Callable[..., Any] | None = None
    compare_pairs: Callable[..., Any] | None = None
    influence: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        if (self.pair_matrix is None) != (self.compare_pairs is None):
            raise ValueError("pair_matrix and compare_pairs hooks come together (both or neither)")

    def names(self) -> tuple[str, ...]:
        """The names of the hooks provided, in declaration order."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)


@dataclass
class Measure:
    """A registered measure: its info, the public function, its two computational halves and its
    optional fast paths (:class:`Hooks`)."""

    info: MeasureInfo
    public: Callable[..., Any]
    core: Callable[..., Any]
    prepare: Callable[..., Any] | None = None
    hooks: Hooks = field(default_factory=Hooks)

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Fill defaults and validate ``params`` against the declared parameters."""
        info = self.info
        unknown = [k for k in params if k not in info.params]
        if unknown:
            allowed = ", ".join(info.params) or "(none)"
            raise ReprlabError(
                f"Unknown parameter {unknown[0]!r} for measure {info.name!r}. "
                f"Its parameters are: {allowed}." + close_matches(unknown[0], info.params)
            )
        out = info.defaults()
        for k, v in params.items():
            out[k] = info.params[k].validate(v, k, info.name)
        return out

    def prepare_one(self, X: torch.Tensor, params: Mapping[str, Any]) -> Any:
        """Per-representation work (identity when the measure declares none)."""
        return X if self.prepare is None else self.prepare(X, **params)

    def check_input(self, X: Any, name: str, dtype: Any, device: Any, *, rescale: bool = False) -> torch.Tensor:
        """Convert and check one input of this measure (``rescale``: see :func:`as_tensor`)."""
        return as_tensor(X, name, ndim=self.info.input_ndim, dtype=dtype, device=device, rescale=rescale)


_REGISTRY: dict[str, Measure] = {}


def run(m: Measure, inputs: tuple[Any, ...], params: Mapping[str, Any], dtype: Any, device: Any) -> Any:
    """Check the inputs of measure ``m`` (one or two), prepare each and apply the core."""
    rescale = m.info.kind == "compare" and m.info.scale_invariant_for(params)
    tensors = [m.check_input(x, nm, dtype, device, rescale=rescale) for x, nm in zip(inputs, ("X", "Y"))]
    if len(tensors) == 2:
        check_same_rows(*tensors)
    value = to_python(m.core(*(m.prepare_one(t, params) for t in tensors), **params))
    if m.info.kind == "compare":
        for t, nm in zip(tensors, ("X", "Y")):
            check_comparable(t, nm, m.info.name, m.info.defined_on_constant(params, nm == "X"))
    top = max(float(t.abs().max()) for t in tensors) if isinstance(value, float) else 1.0
    extreme = top > 0 and not 1e-100 < top < 1e100
    if m.info.kind == "compare" and isinstance(value, float) and (math.isinf(value) or (math.isnan(value) and extreme)):
        raise ReprlabError(
            f"{format_spec(m.info.name, params)} came out {value} on finite inputs (largest magnitude {top:.3g}): "
            "the computation overflowed or underflowed. Rescale the inputs (e.g. X / np.abs(X).max())."
        )
    return value


def register(
    name: str,
    *,
    family: str,
    params: Mapping[str, Param],
    larger_is_similar: bool | None = None,
    is_metric: bool | None = None,
    symmetric: bool | None = None,
    invariances: set[str] | frozenset[str],
    range: tuple[float, float],  # noqa: A002 - the MeasureInfo field name
    references: tuple[str, ...],
    kind: str = "compare",
    summary: str = "",
    variants: tuple[Variant, ...] = (),
    input_ndim: int = 2,
    differentiable: bool = True,
    prepare: Callable[..., Any] | None = None,
    asymmetric_when: Mapping[str, tuple[Any, ...]] | None = None,
    hooks: Hooks | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``core`` as measure ``name`` and return its validating public function.

    The core receives prepared inputs (``prepare(X, **params)`` if given, else checked float tensors)
    and every parameter as a keyword argument; it returns a float, a 0-d tensor (turned into a float)
    or a richer result. ``hooks`` holds the measure's optional fast paths (:class:`Hooks`), from which
    ``MeasureInfo.streamable`` and ``MeasureInfo.capabilities`` are derived.
    """
    hooks = Hooks() if hooks is None else hooks
    if not isinstance(hooks, Hooks):
        raise TypeError(f"hooks of {name!r} must be a reprlab._registry.Hooks; got {type(hooks).__name__}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if kind == "describe":  # one representation: nothing is compared, so none of the three applies
        larger_is_similar = is_metric = symmetric = False
    elif None in (larger_is_similar, is_metric, symmetric):
        raise ValueError(f"compare measure {name!r} must declare larger_is_similar, is_metric and symmetric")
    bad = set(invariances) - INVARIANCES
    for v in variants:
        bad |= set(v.invariances) - INVARIANCES
    if bad:
        raise ValueError(f"unknown invariances {sorted(bad)}; allowed: {sorted(INVARIANCES)}")

    def deco(core: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"measure {name!r} registered twice")
        info = MeasureInfo(
            name=name,
            kind=kind,
            family=family,
            params=dict(params),
            larger_is_similar=larger_is_similar,
            is_metric=is_metric,
            symmetric=symmetric,
            invariances=frozenset(invariances),
            range=range,
            references=tuple(references),
            summary=summary or (core.__doc__ or "").strip().splitlines()[0],
            variants=tuple(variants),
            input_ndim=input_ndim,
            streamable=hooks.stream is not None,
            differentiable=differentiable,
            capabilities=hooks.names(),
            asymmetric_when=dict(asymmetric_when or {}),
        )

        if kind == "compare":

            @functools.wraps(core)
            def public(X: Any, Y: Any, /, *, dtype: Any = None, device: Any = None, **kwargs: Any) -> Any:
                m = _REGISTRY[name]
                return run(m, (X, Y), m.check_params(kwargs), dtype, device)

        else:

            @functools.wraps(core)
            def public(X: Any, /, *, dtype: Any = None, device: Any = None, **kwargs: Any) -> Any:
                m = _REGISTRY[name]
                return run(m, (X,), m.check_params(kwargs), dtype, device)

        public.info = info  # type: ignore[attr-defined]
        _REGISTRY[name] = Measure(info=info, public=public, core=core, prepare=prepare, hooks=hooks)
        return public

    return deco


def get(name: str, kind: str | None = None) -> Measure:
    """Return the registered measure ``name`` or raise naming the valid ones."""
    if not isinstance(name, str):
        raise ReprlabTypeError(f"A measure is named by a string such as 'cka'; got {type(name).__name__}.")
    m = _REGISTRY.get(name)
    if m is None or (kind is not None and m.info.kind != kind):
        names = sorted(k for k, v in _REGISTRY.items() if kind is None or v.info.kind == kind)
        what = f"{kind} measure" if kind else "measure"
        raise ReprlabError(
            f"Unknown {what} {name!r}.{close_matches(name, names)} "
            f"Valid names: {', '.join(names)} (see reprlab.measures.available())."
        )
    return m


def available(kind: str | None = None, family: str | None = None) -> list[MeasureInfo]:
    """List the registered measures' :class:`MeasureInfo`, optionally of one kind or family."""
    if kind is not None and kind not in KINDS:
        raise ReprlabError(f"`kind` must be one of {KINDS} or None; got {kind!r}.")
    return [
        m.info
        for _, m in sorted(_REGISTRY.items())
        if (kind is None or m.info.kind == kind) and (family is None or m.info.family == family)
    ]


def info(name: str) -> MeasureInfo:
    """Return the :class:`MeasureInfo` of measure ``name`` (a name or a spec string)."""
    return get(parse_spec(name)[0]).info


def _split_args(text: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return parts


def _parse_value(text: str) -> Any:
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return ast.literal_eval(t)
    except (ValueError, SyntaxError):
        return t.strip("'\"")


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Parse ``"name(key=value, ...)"`` into ``(name, params)``.

    Values are read as Python literals where they are ones (``0.8``, ``True``/``true``, ``None``,
    ``[0.1, 1, 10]``) and as bare strings otherwise (``kernel=rbf``).

    >>> parse_spec("cka(kernel=rbf, sigma=0.8)")
    ('cka', {'kernel': 'rbf', 'sigma': 0.8})
    """
    if not isinstance(spec, str):
        raise ReprlabTypeError(f"A measure spec must be a string such as 'cka(kernel=rbf)'; got {spec!r}.")
    s = spec.strip()
    if "(" not in s:
        if not s or not s.replace("_", "").isalnum():
            raise ReprlabError(f"Cannot read the measure spec {spec!r}; write it as name or name(key=value, ...).")
        return s, {}
    if not s.endswith(")"):
        raise ReprlabError(f"Cannot read the measure spec {spec!r}: it opens '(' but does not end with ')'.")
    name, inner = s[: s.index("(")].strip(), s[s.index("(") + 1 : -1]
    params: dict[str, Any] = {}
    for part in _split_args(inner):
        if "=" not in part:
            raise ReprlabError(f"Cannot read {part.strip()!r} in the measure spec {spec!r}: write key=value.")
        k, v = part.split("=", 1)
        params[k.strip()] = _parse_value(v)
    return name, params


def format_spec(name: str, params: Mapping[str, Any]) -> str:
    """The inverse of :func:`parse_spec` for spec-able parameters (data parameters are left out)."""
    m = get(name)
    shown = {k: v for k, v in params.items() if not m.info.params[k].data and v != m.info.params[k].default}
    if not shown:
        return name
    return f"{name}(" + ", ".join(f"{k}={v}" for k, v in shown.items()) + ")"


def resolve(measure: str, params: Mapping[str, Any]) -> tuple[Measure, dict[str, Any]]:
    """Resolve a name or spec string plus keyword parameters into a measure and checked parameters."""
    name, spec_params = parse_spec(measure)
    m = get(name)
    both = set(spec_params) & set(params)
    clash = [k for k in both if spec_params[k] != params[k]]
    if clash:
        raise ReprlabError(
            f"Parameter {clash[0]!r} is given twice with different values: {spec_params[clash[0]]!r} in the "
            f"spec {measure!r} and {params[clash[0]]!r} as a keyword. Give it once."
        )
    return m, m.check_params({**spec_params, **params})


def capability_table() -> str:
    """The markdown table of docs/engine.md: every measure with a fast path, and which (its :class:`Hooks`).

    A measure not listed runs in :func:`reprlab.compare_all` as ``prepare`` once per representation and
    the core per pair, and under the resampling statistics by the rows rule. A hook may decline some
    parameter values (``stream`` returns None for them); docs/engine.md lists those under the table.
    """
    columns = [
        ("all_pairs", "all_pairs"),
        ("stream", "stream"),
        ("pair_matrix", "distinct pairs"),
        ("influence", "influence"),
    ]
    lines = [
        "| measure | family | " + " | ".join(title for _, title in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for info in available():
        if info.capabilities:
            marks = ["yes" if hook in info.capabilities else "" for hook, _ in columns]
            lines.append(f"| `{info.name}` | {info.family} | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n"
