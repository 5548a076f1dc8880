"""Capturing activations: ``extract`` (hooks, pooling, early stop), the model ``zoo`` and ``stimuli``.

The heavy dependencies (transformers, zarr, gensim, scikit-image) load only when used.
"""

from .extract import extract

__all__ = ["extract"]
