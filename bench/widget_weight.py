"""The widget's weight: each file gzipped (level 9) and the totals against the budgets
(docs/widget.md). Follows frame.html's script and stylesheet and every module they import,
so a new module is counted without editing this script.

    .venv/bin/python bench/widget_weight.py
"""

from __future__ import annotations

import gzip
import posixpath
import re
from pathlib import Path

WIDGET = Path(__file__).resolve().parent.parent / "widget"
BUDGETS = {"loader": 2 * 1024, "chat page": 25 * 1024}


def gz(name: str) -> int:
    return len(gzip.compress((WIDGET / name).read_bytes(), 9))


def page_files() -> list[str]:
    """frame.html and everything it loads, in the order found."""
    html = (WIDGET / "frame.html").read_text("utf-8")
    todo = re.findall(r"(?:src|href)=\"/widget/([^\"]+)\"", html)
    files = ["frame.html"]
    while todo:
        name = todo.pop(0)
        if name in files:
            continue
        files.append(name)
        if name.endswith(".js"):
            imported = re.findall(
                r"from '(\.\.?/[a-z0-9/-]+\.js)'", (WIDGET / name).read_text("utf-8")
            )
            todo += [
                posixpath.normpath(posixpath.join(posixpath.dirname(name), i)) for i in imported
            ]
    return files


def main() -> None:
    rows = [("loader", ["loader.js"]), ("chat page", page_files())]
    for label, files in rows:
        total = 0
        for name in files:
            size = gz(name)
            total += size
            print(f"  {name:<20} {(WIDGET / name).stat().st_size:>7} B  {size:>6} B gzipped")
        budget = BUDGETS[label]
        print(f"{label}: {total} B gzipped of {budget} B ({100 * total / budget:.0f} %)\n")


if __name__ == "__main__":
    main()
