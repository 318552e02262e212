"""HTML reports of a run (:mod:`twin.report.page`) and of a parameter study (:mod:`.study`)."""

from twin.report.figures import PLOT_IDS
from twin.report.page import render_report, report_figures
from twin.report.style import policy_colours
from twin.report.tables import TABLE_IDS

__all__ = ["PLOT_IDS", "TABLE_IDS", "policy_colours", "render_report", "report_figures"]
