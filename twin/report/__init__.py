"""HTML report of a run, rendered from its result records."""

from twin.report.html import PLOT_IDS, TABLE_IDS, policy_colours, render_report, report_figures

__all__ = ["PLOT_IDS", "TABLE_IDS", "policy_colours", "render_report", "report_figures"]
