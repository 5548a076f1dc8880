"""The streaming protocol, below the measures: a measure that depends on the data only through centred
cross-moments declares a :class:`~reprlab.stream.moments.StreamSpec` (its ``stream`` hook), and this
package accumulates those moments chunk by chunk over the stimuli (:mod:`.moments`) from in-memory
arrays or store arrays read lazily (:mod:`.sources`). The measures import it; it imports no measure
and no engine module, so the engine (in memory, over stores, on Dask) and the approximations of a
family (sketched CKA) share one accumulation.
"""

from .moments import Options, PairStats, StreamSpec
from .sources import Source

__all__ = ["Options", "PairStats", "Source", "StreamSpec"]
