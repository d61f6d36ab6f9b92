"""Reports: self-contained HTML pages, figures and results tables.

One convention for every page: the builder of each HTML page lives here, one module per page
(``rank_page``, ``curation_page``, ``eval_page``, ``bench_page``), built with ``Report``,
``plots`` and ``write_table``. A page reads a stage's results; no stage imports a page, except
the orchestrators (``curation.pipeline``, ``bench``) and the CLI, which write them.

    from alignkit.report import Report, plots, write_table
    Report("Encoder ranking").table(df, caption="CKA", best={"cka": "max"}).figure(
        plots.heatmap(m, vision, text, title="linear CKA")).write("reports/rank")
"""

from alignkit.report import plots
from alignkit.report.html import Report
from alignkit.report.tables import read_table, to_frame, write_table

__all__ = ["Report", "plots", "read_table", "to_frame", "write_table"]
