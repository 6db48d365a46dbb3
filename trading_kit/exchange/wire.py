"""Alpaca's wire conventions, shared by every route of the local exchange.

Alpaca sends decimals as JSON strings (``"qty": "10"``), unset values as ``null``,
timestamps as RFC 3339, and errors as ``{"code": 40010001, "message": "..."}``.
Keeping those rules in one place is what lets alpaca-py's pydantic models parse
every response unchanged.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.responses import JSONResponse

# Alpaca's error codes, by meaning (observed on the paper API).
CODE_BAD_REQUEST = 40010001
CODE_UNAUTHORIZED = 40110000
CODE_FORBIDDEN = 40310000
CODE_NOT_FOUND = 40410000
CODE_UNPROCESSABLE = 42210000
CODE_RATE_LIMITED = 42910000
CODE_INTERNAL = 50010000


class AlpacaError(Exception):
    """An error the exchange answers with an Alpaca-style body instead of a 500."""

    def __init__(
        self, status: int, code: int, message: str, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra  # Alpaca adds context to some errors, e.g. buying_power, cost_basis

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **(self.extra or {})}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def error_response(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def decimal_str(value: Decimal | float | int | None) -> str | None:
    """A number as Alpaca writes it: a plain decimal string, no exponent, no trailing zeros."""
    if value is None:
        return None
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def json_response(payload: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status)
