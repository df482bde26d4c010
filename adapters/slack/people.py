"""Person details from users.info (name, zone, admin, deactivated), cached and refreshed.

The cache only saves API calls; nothing another replica would need lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.clock import Clock

FRESH_FOR = timedelta(hours=1)
# People kept per process, all workspaces together (about 200 bytes each): room for the largest
# workspaces' users.list, so a warm cache is not emptied by the next lookup.
CACHE_MAX = 100_000


@dataclass(frozen=True)
class SlackPerson:
    user_id: str
    name: str
    timezone: str | None
    is_admin: bool
    deleted: bool
    is_bot: bool


class PeopleCache:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[datetime, SlackPerson | None]] = {}
        self._warmed: dict[str, datetime] = {}

    async def warm(self, client: AsyncWebClient, team_id: str) -> None:
        """Fill the cache from users.list, 200 people a call, at most once per freshness
        period per workspace: a fan-out to 2,000 people then costs 10 calls, not 2,000."""
        now = self._clock.now()
        last = self._warmed.get(team_id)
        if last is not None and now - last < FRESH_FOR:
            return
        self._warmed[team_id] = now
        cursor: str | None = None
        try:
            while True:
                response = await client.users_list(limit=200, cursor=cursor)
                for user in response.get("members") or []:
                    person = _person(user)
                    if person.user_id and len(self._entries) < CACHE_MAX:
                        self._entries[(team_id, person.user_id)] = (now, person)
                cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    break
        except SlackApiError:
            return  # fall back to users.info, one person at a time

    def unwarmed(self, team_id: str, user_id: str) -> bool:
        """True when `user_id` is not cached and the workspace's people were not fetched (or
        asked for) within the freshness period: time to `warm` it."""
        now = self._clock.now()
        cached = self._entries.get((team_id, user_id))
        if cached is not None and now - cached[0] < FRESH_FOR:
            return False
        last = self._warmed.get(team_id)
        return last is None or now - last >= FRESH_FOR

    async def get(self, client: AsyncWebClient, team_id: str, user_id: str) -> SlackPerson | None:
        """The person as Slack describes them, or None when Slack does not know them."""
        key = (team_id, user_id)
        now = self._clock.now()
        cached = self._entries.get(key)
        if cached is not None and now - cached[0] < FRESH_FOR:
            return cached[1]
        try:
            response = await client.users_info(user=user_id)
            person = _person(response.get("user") or {})
        except SlackApiError as exc:
            if exc.response.get("error") not in ("user_not_found", "user_not_visible"):
                if cached is not None:
                    return cached[1]  # keep serving the last answer while Slack is unwell
                raise
            person = None
        if len(self._entries) >= CACHE_MAX:
            self._entries.clear()
        self._entries[key] = (now, person)
        return person


def _person(user: dict[str, Any]) -> SlackPerson:
    profile = user.get("profile") or {}
    name = (
        profile.get("display_name")
        or profile.get("real_name")
        or user.get("real_name")
        or user.get("name")
        or ""
    )
    return SlackPerson(
        user_id=str(user.get("id", "")),
        name=str(name),
        timezone=user.get("tz") or None,
        is_admin=bool(user.get("is_admin") or user.get("is_owner")),
        deleted=bool(user.get("deleted")),
        is_bot=bool(user.get("is_bot")),
    )
