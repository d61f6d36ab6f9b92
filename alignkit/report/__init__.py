"""Reports: self-contained HTML pages, figures and results tables.

    from alignkit.report import Report, plots, write_table
    Report("Encoder ranking").table(df, caption="CKA", best={"cka": "max"}).figure(
        plots.heatmap(m, vision, text, title="linear CKA")).write("reports/rank")
"""

from alignkit.report import plots
from alignkit.report.html import Report
from alignkit.report.tables import read_table, to_frame, write_table

__all__ = ["Report", "plots", "read_table", "to_frame", "write_table"]
