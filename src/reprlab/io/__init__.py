"""Reading and writing the formats brain and behaviour data come in.

>>> import reprlab as rl
>>> data = rl.io.from_rsatoolbox(dataset)          # doctest: +SKIP   -> BrainData (descriptors kept)
>>> ds = rl.io.to_rsatoolbox(data)                 # doctest: +SKIP   -> rsatoolbox Dataset, equal to the original
>>> rl.io.write_nwb("s1.nwb", trials=table, responses=R, rate=100.0)   # doctest: +SKIP
>>> f = rl.io.read_nwb("s1.nwb"); f.responses, f.stimulus_table()     # doctest: +SKIP

Modules: :mod:`~reprlab.io.rsa_toolbox` (rsatoolbox ``Dataset`` / ``RDMs``), :mod:`~reprlab.io.nwb`
(NWB through pynwb), :mod:`~reprlab.io.datasets` (packaged brain data that work offline,
``rl.datasets``). Models fitted to such data live beside this package, in :mod:`reprlab.brain`.
"""

from .nwb import NWBData, read_nwb, write_nwb
from .rsa_toolbox import BrainData, RDMSet, from_rsatoolbox, to_rsatoolbox

__all__ = ["BrainData", "NWBData", "RDMSet", "from_rsatoolbox", "read_nwb", "to_rsatoolbox", "write_nwb"]
