"""Regenerate the report screenshots in docs/ from current reports, in headless Chromium.

    python scripts/screenshots.py --demo reports/demo --rank reports/rank

Each report folder's index.html is rendered at 1280 px wide and the top of the page is saved:
docs/demo-report.png (1280 x 2000) and docs/rank-report.png (1280 x 1500). Needs Debian's
chromium (scripts/setup.sh --test installs it). The driver is tests/helpers/chromium.py, the one the
report rendering tests use.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.chromium import CHROMIUM, screenshot  # noqa: E402

SHOTS = {"demo": ("demo-report.png", 2000), "rank": ("rank-report.png", 1500)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in SHOTS:
        ap.add_argument(f"--{name}", type=Path, help=f"a {name} report folder (holding index.html)")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs", help="where the PNGs go (default: docs/)")
    args = ap.parse_args()
    if CHROMIUM is None:
        sys.exit("headless Chromium is not installed: apt-get install chromium (or scripts/setup.sh --test)")
    todo = {name: folder for name in SHOTS if (folder := getattr(args, name)) is not None}
    if not todo:
        ap.error("name at least one report folder (--demo, --rank)")
    for name, folder in todo.items():
        page = folder / "index.html"
        if not page.is_file():
            sys.exit(f"{page} does not exist: run the command that writes it first")
        png, height = SHOTS[name]
        with tempfile.TemporaryDirectory() as profile:
            out = screenshot(page, args.docs / png, Path(profile), width=1280, height=height)
        print(f"{out}: {page}")


if __name__ == "__main__":
    main()
