"""Settings: precedence, the paper-only rule, and secrets kept out of every repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from trading_kit import ConfigError, MarketData, Settings
from trading_kit.config import PAPER_TRADING_URL
from trading_kit.http import HttpStack

ENV = (
    "ALPACA_API_KEY",
    "ALPACA_SECRET_KEY",
    "APCA_API_KEY_ID",
    "APCA_API_SECRET_KEY",
    "ALPACA_TRADING_URL",
    "ALPACA_DATA_URL",
    "APCA_API_BASE_URL",
    "TRADING_KIT_CACHE",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_arguments_beat_alpaca_env_which_beats_apca_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", "apca-id")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "apca-secret")
    assert Settings.from_env().api_key == "apca-id"
    monkeypatch.setenv("ALPACA_API_KEY", "alpaca-id")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "alpaca-secret")
    settings = Settings.from_env()
    assert (settings.api_key, settings.secret_key) == ("alpaca-id", "alpaca-secret")
    assert Settings.from_env("arg-id", "arg-secret").api_key == "arg-id"


def test_urls_and_cache_path_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ALPACA_DATA_URL", "http://127.0.0.1:9999/v2/")
    monkeypatch.setenv("ALPACA_TRADING_URL", "http://localhost:9998")
    monkeypatch.setenv("TRADING_KIT_CACHE", str(tmp_path / "c.sqlite"))
    settings = Settings.from_env()
    assert settings.data_url == "http://127.0.0.1:9999"  # trailing /v2 and slash dropped
    assert settings.trading_url == "http://localhost:9998"
    assert settings.cache_path == tmp_path / "c.sqlite"
    assert settings.auth_headers["APCA-API-KEY-ID"]  # keyless loopback gets placeholders


@pytest.mark.parametrize(
    "url",
    ["https://api.alpaca.markets", "https://api.alpaca.markets/v2", "HTTPS://API.ALPACA.MARKETS"],
)
def test_live_endpoint_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="paper only"):
        Settings.from_env("id", "secret", trading_url=url)


def test_live_endpoint_from_env_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_BASE_URL", "https://api.alpaca.markets")
    with pytest.raises(ConfigError, match=PAPER_TRADING_URL):
        MarketData("id", "secret")


def test_half_a_key_pair_is_an_error() -> None:
    with pytest.raises(ConfigError, match="both"):
        Settings.from_env("id-only")


def test_remote_url_without_keys_is_an_error() -> None:
    with pytest.raises(ConfigError, match="ALPACA_API_KEY"):
        Settings.from_env(data_url="https://data.example.com")


def test_bad_url_names_itself() -> None:
    with pytest.raises(ConfigError, match="ftp://x"):
        Settings.from_env("id", "secret", data_url="ftp://x")


def test_unknown_setting_is_named() -> None:
    with pytest.raises(ConfigError, match="requests_per_hour"):
        Settings.from_env("id", "secret", requests_per_hour=5)


def test_no_repr_shows_a_secret(tmp_path: Path) -> None:
    settings = Settings.from_env("PKSHOWNOWHERE", "SECRETSHOWNOWHERE", cache_path=tmp_path / "c")
    stack = HttpStack(settings)
    client = MarketData(stack=stack)
    for text in (repr(settings), str(settings), repr(stack), repr(client), repr(client.cache)):
        assert "PKSHOWNOWHERE" not in text
        assert "SECRETSHOWNOWHERE" not in text
    assert "paper-api.alpaca.markets" in repr(settings)
    stack.close()


def test_no_log_line_shows_a_secret(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Everything logged at DEBUG (ours, requests-cache's, urllib3's) during real requests."""
    from tests.client.conftest import KEY_ID, SECRET
    from tests.stub_alpaca import StubServer

    with StubServer() as stub, caplog.at_level("DEBUG"):
        stack = HttpStack(
            Settings(
                KEY_ID, SECRET, data_url=stub.url, trading_url=stub.url, cache_path=tmp_path / "c"
            )
        )
        md = MarketData(stack=stack)
        md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-01-31")
        md.get_bars("AAPL", "1Day", start="2024-01-02", end="2024-01-31")
        stub.state.fail_next(("status", 401))
        with pytest.raises(Exception, match="401"):
            md.get_latest_quote("AAPL")
        stack.close()
    assert caplog.records  # the loggers did speak
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET not in text and KEY_ID not in text


def test_rate_budget_is_alpacas_unless_the_server_is_local() -> None:
    assert Settings.from_env("id", "secret").requests_per_minute == 200
    local = Settings.from_env(trading_url="http://127.0.0.1:1", data_url="http://127.0.0.1:1")
    assert local.requests_per_minute == 60_000  # a replay loop must not stall for a minute
    assert Settings.from_env("id", "secret", requests_per_minute=50).requests_per_minute == 50
