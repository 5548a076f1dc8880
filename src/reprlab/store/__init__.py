"""The on-disk activation store (zarr) and :class:`Activations`, its mapping view."""

from .activations import Activations

__all__ = ["Activations"]
