"""Run a notebook and write HTML whose charts, tickets and blotters show with no network.

    python -m trading_kit.ui.export notebooks/01_quickstart.ipynb --output-dir build

The kernel runs with ``TRADING_KIT_STATIC_HTML=1`` (see :mod:`.static`), so each widget
also displays as plain HTML: the chart as its plotly figure drawn by the plotly.js
that comes with the plotly package (inlined once), the ticket and blotter as tables.
No widget state is stored, so the page loads no widget manager from a CDN.
``make quickstart`` is this command on the quickstart notebook.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .static import ENV


def export(notebook: str | Path, output_dir: str | Path, *, timeout: int = 180) -> Path:
    """Execute ``notebook`` and write ``<output_dir>/<name>.html``; returns its path."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExecutePreprocessor

    source = Path(notebook)
    target = Path(output_dir) / f"{source.stem}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    book = nbformat.read(source, as_version=4)
    previous = os.environ.get(ENV)
    os.environ[ENV] = "1"  # the kernel inherits it
    try:
        ExecutePreprocessor(timeout=timeout, store_widget_state=False).preprocess(
            book, {"metadata": {"path": str(source.parent)}}
        )
    finally:
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous
    page, _ = HTMLExporter().from_notebook_node(book)
    target.write_text(page, encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook")
    parser.add_argument("--output-dir", default="build")
    parser.add_argument("--timeout", type=int, default=180, help="seconds per cell")
    args = parser.parse_args(argv)
    path = export(args.notebook, args.output_dir, timeout=args.timeout)
    print(f"Executed {args.notebook}: {path.resolve()}")


if __name__ == "__main__":
    main()
