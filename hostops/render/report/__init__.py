"""``hostops report``: a recorded run as one self-contained HTML page (see ``page``)."""

from hostops.render.report.page import report_html

__all__ = ["report_html"]
