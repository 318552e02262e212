"""Statistics of a study: confidence intervals, main effects, rank correlation, Pareto fronts.

Pure functions over sequences and numpy arrays, used by the study report
(:mod:`twin.report.study`) and by scripts that read a study table (``examples/``):

* :func:`t_quantile`: quantiles of Student's t distribution;
* :func:`mean_ci`: a mean and the half-width of its Student-t confidence interval;
* :func:`main_effect` / :func:`main_effects`: the mean of a metric at each level of a parameter
  (averaged over the other parameters and the seeds), with its confidence interval;
* :func:`quantile_edges` / :func:`bin_index`: equal-count bins for a parameter with many values;
* :func:`average_ranks` and :func:`spearman`: Spearman's rank correlation;
* :func:`pareto_mask`: the non-dominated rows of a table of objectives.

Missing observations (``None``, NaN, anything :class:`float` cannot read) are skipped, so a
metric a run could not define (an F1 score without positives) does not poison a mean. Only
numpy and the standard library are needed: the report does not pull in scipy.

Modules: :mod:`.student_t`, :mod:`.means` (intervals, main effects, bins), :mod:`.ranks` and
:mod:`.pareto`; every public name is importable from :mod:`twin.analysis` itself.
"""

from twin.analysis.means import (
    MainEffect,
    bin_index,
    main_effect,
    main_effects,
    mean_ci,
    quantile_edges,
)
from twin.analysis.pareto import pareto_mask
from twin.analysis.ranks import average_ranks, spearman
from twin.analysis.student_t import t_quantile

__all__ = [
    "MainEffect",
    "average_ranks",
    "bin_index",
    "main_effect",
    "main_effects",
    "mean_ci",
    "pareto_mask",
    "quantile_edges",
    "spearman",
    "t_quantile",
]
