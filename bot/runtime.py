"""Everything a running server holds, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.config import Settings
from bot.context import Context
from bot.dispatcher import Dispatcher
from bot.engine import Engine
from bot.metrics import Metrics
from bot.ports import Adapter
from bot.scheduler import Ticker
from bot.tasks import Supervisor


@dataclass
class Runtime:
    settings: Settings
    ctx: Context
    engine: Engine
    supervisor: Supervisor
    metrics: Metrics
    dispatcher: Dispatcher
    ticker: Ticker
    adapters: dict[str, Adapter] = field(default_factory=dict)
    draining: bool = False
