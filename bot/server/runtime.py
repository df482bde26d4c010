"""Everything a running server holds, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.chat.engine import ChatEngine
from bot.core.context import Context
from bot.core.ports import Adapter
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.scheduler import Ticker
from bot.delivery.tasks import Supervisor
from bot.server.config import Settings
from bot.server.metrics import Metrics


@dataclass
class Runtime:
    settings: Settings
    ctx: Context
    chat: ChatEngine
    supervisor: Supervisor
    metrics: Metrics
    dispatcher: Dispatcher
    ticker: Ticker
    adapters: dict[str, Adapter] = field(default_factory=dict)
    draining: bool = False
