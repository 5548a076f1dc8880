"""Runs one variant of one workload in a fresh process and prints its time and peak memory as JSON.

Usage (by run.py): python benchmarks/_child.py MODULE VARIANT WORKDIR
Peak memory is this process's resident high-water mark (getrusage ru_maxrss), data included.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def main() -> None:
    module, variant, workdir = sys.argv[1:4]
    mod = importlib.import_module(module)
    out = mod.run_variant(variant, Path(workdir))
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
