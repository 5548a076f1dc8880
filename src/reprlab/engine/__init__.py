"""All-pairs comparisons: per-representation work once, then every pair."""

from .compare_all import compare_all
from .results import ComparisonResult, DescribeResult

__all__ = ["ComparisonResult", "DescribeResult", "compare_all"]
