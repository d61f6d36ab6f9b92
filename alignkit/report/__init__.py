"""Reports: self-contained HTML pages, figures and results tables.

The rendering toolkit, imported by every stage's page and importing no stage (it sits in the
bottom layer, see docs/architecture.md). One convention for every page: a page is built with
``Report``, ``plots`` and ``write_table``, and lives next to its stage (``rank/page.py``,
``curation/page.py``, ``evaluate/page.py``, ``bench/page.py``).

    from alignkit.report import Report, plots, write_table
    Report("Encoder ranking").table(df, caption="CKA", best={"cka": "max"}).figure(
        plots.heatmap(m, vision, text, title="linear CKA")).write("reports/rank")
"""

from alignkit.report import plots
from alignkit.report.html import Report
from alignkit.report.tables import read_table, to_frame, write_table

__all__ = ["Report", "plots", "read_table", "to_frame", "write_table"]
