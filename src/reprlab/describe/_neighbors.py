"""The describe family's former neighbour-search module, now an alias of :mod:`reprlab._neighbors`.

reprlab has one exact neighbour search, in the shared base layer so that the describe and measures
families both use it. This name is the same module object (not a copy of its names): code and tests that
import ``reprlab.describe._neighbors`` or set its constants (``CHUNK``, ``SUPER``, ``SUB``) reach the
one engine.
"""

import sys

from .. import _neighbors

sys.modules[__name__] = _neighbors
