"""Regenerate ``trading_kit/exchange/data/us_equities.csv``, the local exchange's asset universe.

Sources (both MIT licensed, on PyPI, installed only to run this script):

* ``stocktickers`` (NASDAQ and NYSE listings: the symbols and their exchange), and
* ``pytickersymbols`` (names of the S&P 500, S&P 600, NASDAQ 100 and Dow Jones members).

    python -m venv /tmp/universe && /tmp/universe/bin/pip install stocktickers==0.0.18 \\
        pytickersymbols==1.17.10 && /tmp/universe/bin/python scripts/make_us_equities.py

Neither package carries a broker's flags, so they follow one stated rule: an index member
(a liquid, widely held name) is fractionable, marginable, shortable and easy to borrow; any
other listing is tradable and marginable, whole shares only, and not shortable (Alpaca
shorts only easy-to-borrow names). A listing without an index name keeps its symbol as its
name. The ETFs the exchange always had (SPY, QQQ, IWM, DIA) are added with their venue.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.metadata
import re
import sys
from pathlib import Path

import stocktickers
from pytickersymbols import PyTickerSymbols

OUT = (
    Path(__file__).resolve().parent.parent / "trading_kit" / "exchange" / "data" / "us_equities.csv"
)
TICKER = re.compile(r"^[A-Z][A-Z0-9.\-]{0,11}$")  # trading_kit.rules' ticker rule
INDICES = ("S&P 500", "S&P 600", "NASDAQ 100", "DOW JONES")
ETFS = {
    "SPY": ("SPDR S&P 500 ETF Trust", "ARCA"),
    "QQQ": ("Invesco QQQ Trust, Series 1", "NASDAQ"),
    "IWM": ("iShares Russell 2000 ETF", "ARCA"),
    "DIA": ("SPDR Dow Jones Industrial Average ETF Trust", "ARCA"),
}
COLUMNS = [
    "symbol",
    "name",
    "exchange",
    "status",
    "tradable",
    "marginable",
    "shortable",
    "easy_to_borrow",
    "fractionable",
]


def main() -> int:
    listings: dict[str, str] = {}
    for exchange, symbols in (("NYSE", stocktickers.nyse), ("NASDAQ", stocktickers.nasdaq)):
        for raw in symbols:
            symbol = raw.strip().upper()
            if TICKER.match(symbol):
                listings.setdefault(symbol, exchange)  # the few listed twice: NYSE first
    names: dict[str, str] = {}
    tickers = PyTickerSymbols()
    for index in INDICES:
        for stock in tickers.get_stocks_by_index(index):
            names.setdefault(stock["symbol"].replace("-", ".").upper(), stock["name"])
    rows = []
    for symbol, exchange in sorted({**listings, **{s: v[1] for s, v in ETFS.items()}}.items()):
        liquid = symbol in names or symbol in ETFS
        flag = "true" if liquid else "false"
        name = ETFS[symbol][0] if symbol in ETFS else names.get(symbol, symbol)
        rows.append([symbol, name, exchange, "active", "true", "true", flag, flag, flag])
    versions = {p: importlib.metadata.version(p) for p in ("stocktickers", "pytickersymbols")}
    with OUT.open("w", newline="", encoding="utf-8") as out:
        out.write(
            f"# US-listed equities for the trading_kit local exchange; generated {dt.date.today()}"
            f" by scripts/make_us_equities.py from stocktickers {versions['stocktickers']}"
            f" and pytickersymbols {versions['pytickersymbols']} (both MIT). Flags follow the"
            " rule in that script's docstring.\n"
        )
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    print(f"{len(rows)} assets ({sum(r[6] == 'true' for r in rows)} index members) -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
