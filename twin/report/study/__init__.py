"""Self-contained HTML report of a parameter study: a pure function of the study table.

:func:`render_study_report` turns a study's summary and its tidy table (one row per run x
policy x group, as written by :func:`twin.study.run_study`) into ONE HTML document: the study's
provenance, main-effect sensitivity plots with a rank-correlation table, the Pareto front of
battery life, decision latency and F1, confidence intervals over seeds, and the failed runs.

It follows the conventions of the run report (:mod:`twin.report.page`) and shares its look
(:mod:`twin.report.style`): plotly.js is inlined once in ``<head>``, nothing external is
referenced, every figure sits in ``<div class="twin-plot" id="plot-...">`` with the graph in
``<div id="plot-...-fig">``, every table has a stable id (:data:`STUDY_TABLE_IDS`), numeric
cells carry their raw value in ``data-value``, and a policy has the same colour everywhere.

Modules: :mod:`.names` (labels and units of metrics and parameters), :mod:`.model` (the table
sorted out, main effects and Pareto points, computed with :mod:`twin.analysis`),
:mod:`.figures`, :mod:`.tables` and :mod:`.page` (the document).
"""

from twin.report.study.figures import STUDY_PLOT_IDS
from twin.report.study.model import MAX_LEVELS
from twin.report.study.names import METRIC_INFO
from twin.report.study.page import render_study_report
from twin.report.study.tables import STUDY_TABLE_IDS

__all__ = [
    "MAX_LEVELS",
    "METRIC_INFO",
    "STUDY_PLOT_IDS",
    "STUDY_TABLE_IDS",
    "render_study_report",
]
