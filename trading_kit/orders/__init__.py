"""Validated paper orders: ``OrderSpec`` (pure validation), pre-trade checks and risk
rules, the ``Orders`` executor (idempotent submission) and the SQLite order journal."""

from .checks import PreTradeChecks
from .executor import Orders
from .frames import Account, Order
from .journal import Journal
from .risk import RiskLimits
from .spec import OrderSpec

__all__ = ["Account", "Journal", "Order", "OrderSpec", "Orders", "PreTradeChecks", "RiskLimits"]
