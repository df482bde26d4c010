"""The complete schema: the project's models plus the library tables it hosts."""

from __future__ import annotations

from storage import slack_store
from storage.models import Base

metadata = Base.metadata
HOSTED_TABLES = (
    slack_store.BOTS_TABLE,
    slack_store.INSTALLATIONS_TABLE,
    slack_store.OAUTH_STATES_TABLE,
)
