"""Run Alembic migrations from code (`rutradar db upgrade`, tests, `make run`).

Alembic is imported only where a migration runs: importing it (with Mako and Pygments, which
it brings) was a tenth of `rutradar serve`'s start-up, which needs only the head revision."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# A migration's file name starts with its revision id, four digits, each revision revising the
# one before it (tests/test_migrations.py holds this against Alembic's own reading).
_REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Blocking; call from a thread when an event loop is running (env.py runs its own)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


@cache
def head_revision() -> str | None:
    """The schema this code expects (`/readyz` compares the database's with it): the highest
    revision among the migrations' file names."""
    revisions = [
        found.group(1)
        for path in (MIGRATIONS / "versions").iterdir()
        if (found := _REVISION_FILE.match(path.name))
    ]
    return max(revisions, default=None)
