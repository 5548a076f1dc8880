"""All-pairs comparisons: per-representation work once, then every pair."""

from .approx import minibatch_cka
from .compare_all import compare_all
from .results import ComparisonResult, DescribeResult
from .sketch import sketched_cka

__all__ = ["ComparisonResult", "DescribeResult", "compare_all", "minibatch_cka", "sketched_cka"]
