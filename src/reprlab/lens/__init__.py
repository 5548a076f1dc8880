"""Inside the forward pass: lenses that read residual states as next-token distributions.

``logit_lens`` (the model's own final norm and unembedding), ``train_tuned_lens`` / ``tuned_lens``
(an affine translator per layer, then the same decoder), ``project`` (the tokens a residual
direction promotes and suppresses). Attention-head scores are in :mod:`reprlab.lens.heads`
(``rl.heads``).
"""

from .logit import LensResult, logit_lens
from .project import Projection, project
from .tuned import TunedLens, train_tuned_lens, tuned_lens

__all__ = ["LensResult", "Projection", "TunedLens", "logit_lens", "project", "train_tuned_lens", "tuned_lens"]
