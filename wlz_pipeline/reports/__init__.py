"""Static HTML reports (issue 10): child profiles, partner report cards, the WLZ summary,
claim packs and an index. See ``render.py`` for where each page goes and what it reads."""

from wlz_pipeline.reports.render import ReportError, ReportResult, render_reports, reports_dir

__all__ = ["ReportError", "ReportResult", "render_reports", "reports_dir"]
