"""Benchmark the chart in the browser: how soon it is visible, and how big its state is.

    python bench/bench_chart_browser.py [--repeat 3]

JupyterLab and headless Chromium against the local exchange (all on 127.0.0.1; needs
``.[lab,browser]`` and Debian's chromium). For each repeat, a fresh page and kernel:

* the first chart: ``kit.chart("AAPL", "5Min")`` right after ``tk.connect()``, timed
  from the moment the cell is sent to the moment its candles are drawn in the page;
* later charts: two more, same measure;
* a 100,000-bar chart (bars fetched in an earlier cell): time to drawn candles, and
  the size of its widget state;

and, as the anchor in the same run (its own page and kernel), plotly's own
``go.FigureWidget`` with the same 5-minute candles (what trading_kit used before, and
what a researcher would otherwise write): first and later charts, and its state size.
Targets (issue 8): first chart <= 3 s, later ones <= 1 s, a 100,000-bar chart's state
<= 1 MB. Medians of ``--repeat`` runs; ratios are ours / anchor.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.browser.lab

from tests.browser import lab
from trading_kit.ui.widget import plotly_js

DRAWN = "(cell) => !!cell.querySelector('.js-plotly-plot .trace.boxes path')"


def chart_cells(url: str) -> list[str]:
    return [
        "import json\nimport trading_kit as tk\n"
        f"kit = tk.connect(trading_url={url!r}, data_url={url!r})\n"
        "big_bars = kit.data.get_bars('NVDA', '1Min', start='2023-06-01', limit=100_000,"
        " progress=False)\nprint(len(big_bars))",
        "kit.chart('AAPL', '5Min')",
        "kit.chart('MSFT', '5Min')",
        "kit.chart('SPY', '5Min')",
        "big = kit.chart('NVDA', '1Min', bars=big_bars)\n"
        "print('STATE', len(json.dumps(big.widget.get_state(), default=str)))\nbig",
    ]


def anchor_cells(url: str) -> list[str]:
    figure = (
        "bars = md.get_bars('{symbol}', '5Min', progress=False).xs('{symbol}')\n"
        "go.FigureWidget(go.Candlestick(x=bars.index.tz_convert('America/New_York')"
        ".tz_localize(None), open=bars.open, high=bars.high, low=bars.low, close=bars.close))"
    )
    return [
        "import json\nimport plotly.graph_objects as go\nimport trading_kit as tk\n"
        f"md = tk.MarketData(trading_url={url!r}, data_url={url!r})",
        figure.format(symbol="AAPL"),
        figure.format(symbol="MSFT"),
        figure.format(symbol="SPY"),
        "bars = md.get_bars('AAPL', '5Min', progress=False).xs('AAPL')\n"
        "fw = go.FigureWidget(go.Candlestick(x=bars.index, open=bars.open, high=bars.high,"
        " low=bars.low, close=bars.close))\n"
        "print('STATE', len(json.dumps(fw.get_state(), default=str)))",
    ]


def run(browser, jupyter: str, name: str, *, drawn_cells: range) -> tuple[list[float], str]:
    """Open notebook ``name``, run cell 0, then each cell in turn, timing ``drawn_cells``."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    print(f"  running {name}", file=sys.stderr, flush=True)
    try:
        lab.open_notebook(page, jupyter, name)
        lab.run_cell(page, 0)
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.content.widgets[0].model"
            ".executionCount !== null",
            timeout=120_000,
        )
        lab.wait_until(lambda: lab.kernel_idle(page), 300, "the first cell")
        print("  connected", file=sys.stderr, flush=True)
        seconds = []
        count = len(
            page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.map(w => 1)")
        )
        for index in range(1, count):
            started = page.evaluate("() => performance.now()")
            lab.run_cell(page, index)
            if index in drawn_cells:
                handle = page.wait_for_function(
                    f"""(index) => {{
                        const cell = window.jupyterapp.shell.currentWidget.content.widgets[index].node;
                        return ({DRAWN})(cell) ? performance.now() : false;
                    }}""",
                    arg=index,
                    polling=50,
                    timeout=120_000,
                )
                seconds.append((handle.json_value() - started) / 1000)
            lab.wait_until(lambda: lab.kernel_idle(page), 300, f"cell {index}")
            print(f"  cell {index} done", file=sys.stderr, flush=True)
        text = page.evaluate(  # the cells' outputs as the notebook model holds them
            """() => window.jupyterapp.shell.currentWidget.content.widgets
                .flatMap(cell => cell.model.outputs ? cell.model.outputs.toJSON() : [])
                .map(output => [].concat(output.text || []).join(''))
                .join('\\n')"""
        )
        lab.close_notebook(page)
        return seconds, text
    except Exception:
        page.screenshot(path=str(lab.ROOT / "build" / "bench_chart_browser_failure.png"))
        raise
    finally:
        page.close()


def state_size(text: str) -> int:
    line = next(line for line in text.splitlines() if line.startswith("STATE "))
    return int(line.split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if lab.missing():
        raise SystemExit(f"cannot run: {lab.missing()}")
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="bench_chart_browser_"))
    books = work / "notebooks"
    books.mkdir()
    ours: list[list[float]] = []
    theirs: list[list[float]] = []
    sizes: dict[str, int] = {}
    with (
        lab.exchange(work, "--clock", "realtime", "--always-open") as url,
        lab.jupyter_lab(books, work, {}) as jupyter,
        sync_playwright() as playwright,
    ):
        browser = lab.launch(playwright)
        for repeat in range(args.repeat):
            lab.notebook(books / f"ours{repeat}.ipynb", *chart_cells(url))
            lab.notebook(books / f"anchor{repeat}.ipynb", *anchor_cells(url))
            seconds, text = run(browser, jupyter, f"ours{repeat}.ipynb", drawn_cells=range(1, 5))
            ours.append(seconds)
            sizes["ours"] = state_size(text)
            seconds, text = run(browser, jupyter, f"anchor{repeat}.ipynb", drawn_cells=range(1, 4))
            theirs.append(seconds)
            sizes["anchor"] = state_size(text)
        browser.close()

    def median(runs: list[list[float]], i: int) -> float:
        return statistics.median(r[i] for r in runs)

    first, later = median(ours, 0), statistics.median([r[i] for r in ours for i in (1, 2)])
    big = median(ours, 3)
    a_first = median(theirs, 0)
    a_later = statistics.median([r[i] for r in theirs for i in (1, 2)])
    print(f"Chart in JupyterLab + headless Chromium, median of {args.repeat} fresh pages/kernels")
    print(
        f"  first chart visible      {first:5.2f} s   anchor FigureWidget {a_first:5.2f} s"
        f"   ratio {first / a_first:.2f}   (target <= 3 s)"
    )
    print(
        f"  later charts visible     {later:5.2f} s   anchor FigureWidget {a_later:5.2f} s"
        f"   ratio {later / a_later:.2f}   (target <= 1 s)"
    )
    print(f"  100,000-bar chart        {big:5.2f} s to visible")
    print(f"  widget state, 100,000-bar chart   {sizes['ours'] / 1e6:6.3f} MB   (target <= 1 MB)")
    print(
        f"  widget state, FigureWidget of ~1,500 5Min candles   {sizes['anchor'] / 1e6:6.3f} MB"
        "   (plotly.js travels in every FigureWidget's state)"
    )
    print(
        f"  plotly.js bundle, sent once per page to every chart  {len(plotly_js()) / 1e6:6.3f} MB"
    )


if __name__ == "__main__":
    main()
