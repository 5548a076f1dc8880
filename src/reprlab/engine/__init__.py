"""Orchestration of all-pairs comparisons: :func:`compare_all` schedules the pairs (in memory, streamed
over stores, or on a Dask cluster, :mod:`.distributed`) and picks each measure's fast path from its
registered hooks. The measures own their fast paths; the streaming protocol is :mod:`reprlab.stream`.
"""

from ..measures.cka import minibatch_cka, sketched_cka
from ..results import ComparisonResult, DescribeResult
from .compare_all import compare_all

__all__ = ["ComparisonResult", "DescribeResult", "compare_all", "minibatch_cka", "sketched_cka"]
