"""The shared market conventions: one table per rule."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from trading_kit import rules


@pytest.mark.parametrize(
    ("price", "tick"),
    [("1", "0.01"), ("0.9999", "0.0001"), ("250.5", "0.01"), ("-1.5", "0.01"), ("0.5", "0.0001")],
)
def test_tick_size(price: str, tick: str) -> None:
    assert rules.tick_size(Decimal(price)) == Decimal(tick)
    assert rules.tick_sizes(np.array([float(price)]))[0] == float(tick)


@pytest.mark.parametrize(
    ("price", "ok"),
    [("1.00", True), ("1.005", False), ("0.9999", True), ("0.99995", False), ("205.12", True)],
)
def test_on_tick(price: str, ok: bool) -> None:
    assert rules.on_tick(Decimal(price)) is ok


@pytest.mark.parametrize(
    ("price", "snapped"),
    [(205.123, "205.12"), (205.125, "205.13"), (0.123456, "0.1235"), ("99.999", "100.00")],
)
def test_to_tick_rounds_half_up(price: float | str, snapped: str) -> None:
    assert rules.to_tick(price) == Decimal(snapped)


def test_to_ticks_vectorised() -> None:
    assert rules.to_ticks(np.array([1.234, 0.123456])).tolist() == [1.23, 0.1235]


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (" aapl ", "AAPL"),
        ("BRK.B", "BRK.B"),
        ("1ABC", None),
        ("", None),
        (123, None),
        ("A" * 13, None),
    ],
)
def test_ticker(value: object, name: str | None) -> None:
    assert rules.ticker(value) == name


def test_to_utc_reads_naive_as_utc_and_converts_aware() -> None:
    assert rules.to_utc("2024-01-02 14:30") == pd.Timestamp("2024-01-02 14:30", tz="UTC")
    aware = pd.Timestamp("2024-01-02 09:30", tz=rules.NEW_YORK)
    assert rules.to_utc(aware) == pd.Timestamp("2024-01-02 14:30", tz="UTC")


def test_rfc3339_is_utc_with_z() -> None:
    assert (
        rules.rfc3339(pd.Timestamp("2024-01-02 09:30", tz=rules.NEW_YORK)) == "2024-01-02T14:30:00Z"
    )
    moment = dt.datetime(2024, 1, 2, 14, 30, 0, 123456, tzinfo=dt.timezone.utc)
    assert rules.rfc3339(moment) == "2024-01-02T14:30:00.123456Z"
    assert rules.rfc3339(None) is None
    with pytest.raises(ValueError, match="naive"):
        rules.rfc3339(dt.datetime(2024, 1, 2))
