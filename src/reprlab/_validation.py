"""Input checks, run once at the public boundary.

The helpers here turn user input (NumPy arrays, torch tensors, nested lists) into torch tensors of
the compute dtype and device, and raise :class:`~reprlab.errors.ReprlabError` with a message that names
the argument, what was wrong and how to fix it. Cores behind the boundary assume checked input.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

from .errors import ReprlabError, ReprlabTypeError

DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "double": torch.float64,
    "float": torch.float32,
}


def resolve_dtype(dtype: Any) -> torch.dtype:
    """Map ``None`` / a name / a NumPy or torch dtype to a floating torch dtype (default float64)."""
    if dtype is None:
        return torch.float64
    if isinstance(dtype, torch.dtype):
        if not dtype.is_floating_point:
            raise ReprlabError(f"`dtype` must be a floating dtype; got {dtype}. Use torch.float64 or torch.float32.")
        return dtype
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise ReprlabError(f"`dtype` must be one of {sorted(set(DTYPES))}; got {dtype!r}.")
    return DTYPES[name]


def resolve_device(device: Any) -> torch.device:
    """Map ``None`` / a string / a torch device to a torch device (default CPU), checking CUDA exists."""
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ReprlabError(
            f"`device` {device!r} is not a device name; use 'cpu', 'cuda' (or 'cuda:0', 'cuda:1', ...) or 'mps'."
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ReprlabError(f"`device` is {str(device)!r} but CUDA is not available on this machine. Use device='cpu'.")
    return dev


def _describe_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def as_tensor(
    X: Any,
    name: str = "X",
    *,
    ndim: int = 2,
    dtype: Any = None,
    device: Any = None,
    min_rows: int = 1,
    allow_nonfinite: bool = False,
    rescale: bool = False,
) -> torch.Tensor:
    """Convert ``X`` to a torch tensor of ``ndim`` dimensions, ``dtype`` and ``device``, checking it.

    Raises
    ------
    ReprlabTypeError
        ``X`` is not array-like or not numeric.
    ReprlabError
        Wrong number of dimensions, fewer than ``min_rows`` rows, an empty feature axis, or NaN / Inf
        values (unless ``allow_nonfinite``).

    ``rescale=True`` (for measures invariant to isotropic scaling) divides ``X`` by its largest
    absolute value when that lies outside [1e-6, 1e6], before the dtype conversion: inputs scaled
    by 1e200 or 1e-200 then neither overflow nor underflow, and the value does not change.
    """
    dt = resolve_dtype(dtype)
    dev = resolve_device(device)
    if isinstance(X, torch.Tensor):
        t = X.detach()
    else:
        if hasattr(X, "__array__") or isinstance(X, (list, tuple)):
            try:
                arr = np.asarray(X)
            except (TypeError, ValueError) as err:
                raise ReprlabTypeError(f"`{name}` could not be converted to an array: {err}") from None
        else:
            raise ReprlabTypeError(
                f"`{name}` must be a NumPy array or torch tensor of shape (n_stimuli, n_features); "
                f"got an object of type {type(X).__name__}."
            )
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ReprlabTypeError(f"`{name}` must hold numbers; got an array of dtype {arr.dtype}.")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_complex():
        raise ReprlabTypeError(f"`{name}` must be real-valued; got a complex array.")
    if t.ndim != ndim:
        shape = _describe_shape(tuple(t.shape))
        if ndim == 2 and t.ndim == 1:
            fix = (
                f"Reshape it: X.reshape(-1, 1) if it is one feature over {t.shape[0]} stimuli, "
                "or X.reshape(1, -1) if it is one stimulus."
            )
        elif ndim == 2 and t.ndim > 2:
            fix = "Flatten the trailing dimensions first, e.g. X.reshape(X.shape[0], -1), or pool them."
        elif ndim == 3 and t.ndim == 2:
            fix = (
                "The repeats axis is missing: this measure compares response distributions and needs the "
                "repeated responses to each condition stacked as (n_conditions, n_repeats, n_features)."
            )
        else:
            fix = ""
        expected = {
            2: "a 2-D array of shape (n_stimuli, n_features)",
            3: "a 3-D array of shape (n_conditions, n_repeats, n_features)",
            1: "a 1-D array",
        }.get(ndim, f"a {ndim}-D array")
        raise ReprlabError(f"`{name}` must be {expected}; got shape {shape}. {fix}".rstrip())
    if t.shape[0] < min_rows:
        raise ReprlabError(f"`{name}` has {t.shape[0]} rows (stimuli); at least {min_rows} are needed here.")
    if ndim >= 2 and t.shape[-1] == 0:
        raise ReprlabError(f"`{name}` has no features (shape {_describe_shape(tuple(t.shape))}).")
    if rescale and t.is_floating_point() and t.numel():
        top = t.abs().amax()
        if bool(torch.isfinite(top)) and float(top) > 0 and not 1e-6 <= float(top) <= 1e6:
            t = t / top
    t = t.to(device=dev, dtype=dt)
    # A NaN or an infinity makes the sum non-finite, so one read-only pass clears finite data; the
    # elementwise test runs only when the sum is not finite (a bad value, or an overflowing sum).
    if not allow_nonfinite and t.numel() and not bool(torch.isfinite(t.sum())):
        finite = torch.isfinite(t)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            n_nan = int(torch.isnan(t).sum())
            raise ReprlabError(
                f"`{name}` contains {bad} non-finite values ({n_nan} NaN, {bad - n_nan} Inf). "
                "Remove or impute them before comparing (e.g. drop the affected stimuli or units)."
            )
    return t


def check_same_rows(X: torch.Tensor, Y: torch.Tensor, names: tuple[str, str] = ("X", "Y")) -> None:
    """Raise unless ``X`` and ``Y`` have the same number of rows (the same stimuli)."""
    if X.shape[0] != Y.shape[0]:
        a, b = names
        raise ReprlabError(
            f"`{a}` and `{b}` must have the same rows (stimuli) in the same order; got {X.shape[0]} rows "
            f"in `{a}` (shape {_describe_shape(tuple(X.shape))}) and {Y.shape[0]} in `{b}` "
            f"(shape {_describe_shape(tuple(Y.shape))})."
        )


def check_min_rows(X: torch.Tensor, n: int, name: str, why: str) -> None:
    """Raise when ``X`` has fewer than ``n`` rows; ``why`` says which estimator needs them."""
    if X.shape[0] < n:
        raise ReprlabError(f"`{name}` has {X.shape[0]} stimuli; {why} needs at least {n}.")


def check_not_constant(X: torch.Tensor, name: str, what: str) -> None:
    """Raise when every row of ``X`` is the same (zero variance), where ``what`` is undefined."""
    if X.shape[0] < 2 or bool((X == X[:1]).all()):
        raise ReprlabError(
            f"`{name}` has zero variance across stimuli (every row is identical), so {what} is undefined. "
            "Check that the representation was extracted correctly (e.g. not a constant or dead layer)."
        )


def check_comparable(X: torch.Tensor, name: str, measure: str, constant_defined: bool = False) -> None:
    """Raise when no comparison of ``X`` with another representation is informative: 2 stimuli
    (2 centred points span one dimension, so every similarity is trivially maximal and every shape
    distance 0) or identical rows (no structure across stimuli to compare). Called after a measure
    returned a value, so that a measure's own, more specific error comes first.

    ``constant_defined``: the value on a constant ``X`` is mathematically defined (a distance to a
    single point is the other representation's spread; a constant predictor explains no variance):
    then a warning says it is uninformative, instead of an error."""
    if X.ndim == 2 and X.shape[0] == 2:  # fewer: each measure says what it needs
        raise ReprlabError(
            f"`{name}` has {X.shape[0]} stimuli; comparing representations needs at least 3 (after centring, 2 "
            f"points always lie on one line, so {measure} on them is trivially maximal similarity or zero distance)."
        )
    if X.ndim == 2 and X.shape[0] >= 2:
        if constant_defined and bool((X == X[:1]).all()):
            warnings.warn(
                f"`{name}` is constant (every row is identical): {measure} is defined but says nothing about how "
                "the representations organise the stimuli.",
                UserWarning,
                stacklevel=4,
            )
            return
        check_not_constant(X, name, f"{measure} (a comparison of how stimuli differ)")


def check_int(value: Any, name: str, low: int = 1) -> int:
    """``value`` as an int, or raise when it is not an integer (bools refused) of at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ReprlabError(f"`{name}` must be an integer >= {low}; got {value!r}.")
    return int(value)


def check_positive(value: Any, name: str) -> float:
    """``value`` as a float, or raise when it is not a finite number above 0 (bools refused)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.number))
        or not (value > 0)
        or not math.isfinite(value)
    ):
        raise ReprlabError(f"`{name}` must be a positive number; got {value!r}.")
    return float(value)


def check_labels(
    labels: Any, n: int, name: str = "labels", of: str = "the representation",
    hint: str = "give exactly one label per row (stimulus).",
) -> np.ndarray:
    """Return ``labels`` as a 1-D NumPy array of length ``n`` (the rows of ``of``) or raise."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ReprlabError(f"`{name}` must be 1-D with one label per row; got shape {arr.shape}.")
    if arr.shape[0] != n:
        raise ReprlabError(f"`{name}` has {arr.shape[0]} entries but {of} has {n} rows; {hint}")
    return arr


def as_float(value: Any, measure: str, needs: str) -> float:
    """A measure's value as a Python float: a one-element tensor or a Python / NumPy number.

    The one converter used wherever a measure must give one number per comparison
    (:func:`reprlab.compare_all`'s pair, streaming and Dask paths, the resampling statistics); the error
    names the measure (``measure``) and what needs the number (``needs``).
    """
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ReprlabError(
                f"{needs} needs a measure with a scalar value; {measure} returned an array of shape "
                f"{tuple(value.shape)}. Use reprlab.compare on each pair for richer results."
            )
        return float(value.reshape(()))
    if isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, bool):
        return float(value)
    raise ReprlabError(
        f"{needs} needs a measure with a scalar value; {measure} returned {type(value).__name__}. "
        "Use reprlab.compare on each pair for richer results."
    )


def to_python(value: Any) -> Any:
    """A measure's result for the user, on the host whatever the device it was computed on: a 0-d
    tensor becomes a float, a tensor a NumPy array, a dict's values likewise; other values stay."""
    if isinstance(value, torch.Tensor):
        return float(value) if value.ndim == 0 else value.detach().cpu().numpy()
    if isinstance(value, dict):
        return {k: to_python(v) for k, v in value.items()}
    return value
