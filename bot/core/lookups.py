"""A small per-process cache of who is acting: the workspace, the person and their teams and
roles (the `Actor`), looked up for every event otherwise (platforms.md §11: one async ORM select
costs about 0.4 ms on SQLite, and an actor takes four or more).

- **Time-bounded.** An entry lives `ttl` seconds of the injected clock (never the wall clock),
  so a change made by another replica (or the CLI, another process) reaches this one within
  `ttl`: a role granted or revoked, a person moved between teams, a workspace's locale or zone
  takes effect within `RUTRADAR_LOOKUP_TTL` seconds (10 by default). Privacy and authority
  decisions that must not lag are not made from it: answers, releases, `forget-me` and every
  admin action read and write the database itself; the cached actor only decides who the
  sender is and which commands they may start.
- **Invalidated by this process's own writes.** Every transaction that commits a change to the
  workspaces, people, teams or memberships tables (an ORM flush or a bulk UPDATE/DELETE/INSERT)
  empties the cache and moves its generation on, so a lookup that began before that commit is
  not stored afterwards with the old rows.
- **Skipped when the event would change the person** (a new display name, a first time zone or
  locale, a platform admin grant, a new 1:1 conversation reference): then the engine takes the
  database path, which records the change.
- Bounded: at most `max_entries` actors, the oldest dropped first.

Cached ORM objects are detached (sessions never expire on commit) and only read from: code
that changes a person or team loads its own copy in its own session.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta

from bot.core.actor import Actor
from bot.core.clock import Clock
from bot.core.events import Event
from storage.models import Person
from storage.values import PersonRole

WATCHED_TABLES = frozenset({"workspaces", "people", "teams", "memberships"})
DEFAULT_TTL_SECONDS = 10.0
MAX_ENTRIES = 10_000

Key = tuple[str, str, str]  # platform, workspace external id, user id


def changes_person(person: Person, event: Event) -> bool:
    """Whether handling `event` would write something about its sender (the engine's
    `person_for_event` rules): then the cached actor is not used."""
    if person.stub:
        return True
    if event.display_name and event.display_name != person.display_name:
        return True
    if (event.timezone and not person.timezone) or (event.locale and not person.locale):
        return True
    if event.grants_admin and person.role != PersonRole.ADMIN:
        return True
    return bool(event.personal and person.conversation_ref != event.where.to_json())


class Lookups:
    def __init__(
        self, clock: Clock, *, ttl: float = DEFAULT_TTL_SECONDS, max_entries: int = MAX_ENTRIES
    ) -> None:
        self._clock = clock
        self._ttl = timedelta(seconds=ttl)
        self._max = max_entries
        self._actors: OrderedDict[Key, tuple[datetime, Actor]] = OrderedDict()
        self.generation = 0
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self._ttl > timedelta(0) and self._max > 0

    @staticmethod
    def key(event: Event) -> Key:
        return (event.where.platform, event.where.tenant_id, event.user_id)

    def actor(self, event: Event) -> Actor | None:
        """The sender's actor if looked up less than `ttl` ago and unchanged since (as far as
        this process knows), and if the event changes nothing about them."""
        if not self.enabled:
            return None
        key = self.key(event)
        entry = self._actors.get(key)
        if entry is None:
            self.misses += 1
            return None
        expires, actor = entry
        if self._clock.now() >= expires:
            del self._actors[key]
            self.misses += 1
            return None
        if actor.person is None or changes_person(actor.person, event):
            self.misses += 1
            return None
        self.hits += 1
        return actor

    def keep(self, event: Event, actor: Actor, generation: int) -> None:
        """Store an actor looked up from the database; `generation` is `self.generation` as
        it was before the lookup began (a write committed since makes it stale: not kept)."""
        if not self.enabled or generation != self.generation:
            return
        key = self.key(event)
        self._actors[key] = (self._clock.now() + self._ttl, actor)
        self._actors.move_to_end(key)
        while len(self._actors) > self._max:
            self._actors.popitem(last=False)

    def written(self, tables: Iterable[str]) -> None:
        """This process committed a change to `tables`."""
        tables = frozenset(tables)
        if WATCHED_TABLES.isdisjoint(tables) and "*" not in tables:  # "*": a statement's table
            return  # could not be told, so it may have been one of them
        self.generation += 1
        self._actors.clear()

    def clear(self) -> None:
        self.generation += 1
        self._actors.clear()
