"""A small per-process cache of who is acting: the workspace, the person and their teams and
roles (the `Actor`), looked up for every event otherwise (platforms.md §11: one async ORM select
costs about 0.4 ms on SQLite, and an actor takes four or more).

- **Time-bounded.** An entry lives `ttl` seconds of the injected clock (never the wall clock),
  so a change made by another replica (or the CLI, another process) reaches this one within
  `ttl`: a role granted or revoked, a person moved between teams, a workspace's locale or zone
  takes effect within `RUTRADAR_LOOKUP_TTL` seconds (30 by default). Privacy and authority
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
- **Spread out.** Each entry lives a random share of `ttl` between `1 - spread` and 1 (the app
  uses `spread` 0.5): people first seen together (a team answering a round's prompts) would
  otherwise all expire at the same moment and be looked up again at once, a burst of database
  reads that every request in flight waits behind (the Teams p99 in docs/benchmarks.md). The
  bound above is unchanged: no entry outlives `ttl`.
- **Refreshed ahead.** Past half of its life an entry is still served, and `due` says (once) that
  it is time to look the person up again in the background (`ChatEngine` does, when it can
  spawn tasks): someone who keeps writing keeps hitting the cache instead of waiting for the
  reads of a miss, which on a loaded SQLite server take a hundred milliseconds or more (each
  statement is several hand-overs to aiosqlite's thread). Served entries never outlive `ttl`:
  the refreshed one starts a new life from the moment it was read.
- Bounded: at most `max_entries` actors, the oldest dropped first.

Beside the actors, the same rules keep each member's **prompt state**: their home team's open
round (its period, or none) and whether their prompt in it is answered, which is all a
check-in button must know before the form opens (a round closed since, or "counted already"),
and what a member's Home says about the round. It is read in the sender's own statement when
the actor is not cached. A button press in a round's burst then reads nothing. It is emptied when this process writes
the rounds table (a round opened, closed, released or scrubbed here). When this process
stores the person's check-in, their entry is dropped: nothing is stored at a check-in, so the
memory of the process never says who answered nor when. Nor is the sender's actor at a
check-in's submission: it is served as found (`peek`: not refreshed, not dropped) or looked
up and not kept, since an actor kept or refreshed then would be dated at the submission
(`2 * due - expires` is the moment it was stored). Expired entries (actors and prompt
states) are dropped from the oldest on whenever an entry is stored, and by every scheduler
pass (`forget_expired`): a replica that goes quiet after a round's burst would otherwise
keep its last senders, and when they acted, until someone writes again. A round closed, or
a check-in stored, by another replica shows within `ttl`: meanwhile the form opens, and its
submission says what happened (nothing is stored into a closed round, nothing counted
twice: that is decided in the database, in the check-in's own transaction, never from this
cache). A prompt's button for another period than the one remembered (a round opened or
closed elsewhere) is checked in the database before the member is told the round closed.

Cached ORM objects are detached (sessions never expire on commit) and only read from: code
that changes a person or team loads its own copy in its own session.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.actor import Actor
from bot.core.clock import Clock
from bot.core.events import Event
from storage.models import Person
from storage.values import PersonRole

WATCHED_TABLES = frozenset({"workspaces", "people", "teams", "memberships"})
ROUND_TABLES = frozenset({"rounds"})
DEFAULT_TTL_SECONDS = 30.0
MAX_ENTRIES = 10_000

Key = tuple[str, str, str]  # platform, workspace external id, user id
PromptKey = tuple[int, int]  # team id, person id


@dataclass(frozen=True)
class PromptState:
    """A member's home team's open round (`period` None: none open), whether they were
    prompted in it (False: they joined the team after it opened) and whether their prompt in
    it is answered."""

    period: str | None
    answered: bool
    prompted: bool = True


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
        self,
        clock: Clock,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        spread: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        if not 0.0 <= spread < 1.0:
            raise ValueError("spread is a share of the ttl, from 0 up to (not including) 1")
        self._clock = clock
        self._ttl = timedelta(seconds=ttl)
        self._spread = spread
        self._rng = rng or random.Random()
        self._max = max_entries
        # key → (refresh due at, expires at, actor); "due" moves to `datetime.max` once told.
        self._actors: OrderedDict[Key, tuple[datetime, datetime, Actor]] = OrderedDict()
        # (team, person) → (expires at, read at, state).
        self._prompts: OrderedDict[PromptKey, tuple[datetime, datetime, PromptState]] = (
            OrderedDict()
        )
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
        _, expires, actor = entry
        if self._clock.now() >= expires:
            del self._actors[key]
            self.misses += 1
            return None
        if actor.person is None or changes_person(actor.person, event):
            self.misses += 1
            return None
        self.hits += 1
        return actor

    def peek(self, event: Event) -> Actor | None:
        """The sender's actor as `actor` would serve it, changing nothing in the cache: an
        expired entry is left for `forget_expired`, and no refresh is asked for."""
        if not self.enabled:
            return None
        entry = self._actors.get(self.key(event))
        if entry is None or self._clock.now() >= entry[1]:
            return None
        actor = entry[2]
        if actor.person is None or changes_person(actor.person, event):
            return None
        return actor

    def due(self, event: Event) -> bool:
        """True once per entry, when the sender's cached actor is past half its life: look
        them up again (in the background) and `keep` the result."""
        entry = self._actors.get(self.key(event))
        if entry is None or self._clock.now() < entry[0]:
            return False
        self._actors[self.key(event)] = (datetime.max.replace(tzinfo=entry[0].tzinfo), *entry[1:])
        return True

    def keep(self, event: Event, actor: Actor, generation: int) -> None:
        """Store an actor looked up from the database; `generation` is `self.generation` as
        it was before the lookup began (a write committed since makes it stale: not kept)."""
        if not self.enabled or generation != self.generation:
            return
        key = self.key(event)
        self._forget_expired()
        life = self._life()
        now = self._clock.now()
        self._actors[key] = (now + life / 2, now + life, actor)
        self._actors.move_to_end(key)
        while len(self._actors) > self._max:
            self._actors.popitem(last=False)

    def prompt_state(
        self, team_id: int, person_id: int, *, max_age: timedelta | None = None
    ) -> PromptState | None:
        """The member's prompt state if read less than `ttl` (or `max_age`) ago and not
        changed since by this process."""
        if not self.enabled:
            return None
        key = (team_id, person_id)
        entry = self._prompts.get(key)
        if entry is None:
            return None
        now = self._clock.now()
        if now >= entry[0]:
            del self._prompts[key]
            return None
        if max_age is not None and now - entry[1] > max_age:
            return None
        return entry[2]

    def keep_prompt_state(
        self, team_id: int, person_id: int, state: PromptState, generation: int
    ) -> None:
        """Store a prompt state read from the database; `generation` as it was before the
        read began (a write committed since makes it stale: not kept)."""
        if not self.enabled or generation != self.generation:
            return
        self._store_prompt((team_id, person_id), state)

    def checked_in(self, team_id: int, person_id: int) -> None:
        """This process stored (or found) the member's check-in: their entry is dropped, so
        their next press reads the database. Nothing is written into the cache at a
        check-in, so the process's memory never says who answered, nor when (an entry made
        when the form opened, seconds before, would date the answer)."""
        self._prompts.pop((team_id, person_id), None)

    def _store_prompt(self, key: PromptKey, state: PromptState) -> None:
        self._forget_expired()
        now = self._clock.now()
        self._prompts[key] = (now + self._life(), now, state)
        self._prompts.move_to_end(key)
        while len(self._prompts) > self._max:
            self._prompts.popitem(last=False)

    def forget_expired(self) -> None:
        """Drop every expired entry. The scheduler's pass calls it on each tick, so that on
        a replica where nothing is stored any more no entry outlives `ttl` by more than a
        tick."""
        now = self._clock.now()
        for prompt_key in [k for k, (expires, _, _) in self._prompts.items() if expires <= now]:
            del self._prompts[prompt_key]
        for actor_key in [k for k, (_, expires, _) in self._actors.items() if expires <= now]:
            del self._actors[actor_key]

    def _forget_expired(self) -> None:
        """Drop expired entries from the oldest on, rather than keeping them until someone
        asks again: an entry says who pressed a check-in button or wrote to the bot, and
        roughly when, and is kept no longer than its purpose (at most `ttl` after the last
        entry older than it was stored)."""
        now = self._clock.now()
        while self._prompts:
            prompt_key, (expires, _, _) = next(iter(self._prompts.items()))
            if expires > now:
                break
            del self._prompts[prompt_key]
        while self._actors:
            actor_key, (_, expires, _) = next(iter(self._actors.items()))
            if expires > now:
                break
            del self._actors[actor_key]

    def _life(self) -> timedelta:
        return self._ttl * (1.0 - self._spread * self._rng.random()) if self._spread else self._ttl

    def written(self, tables: Iterable[str]) -> None:
        """This process committed a change to `tables`."""
        tables = frozenset(tables)
        unknown = "*" in tables  # "*": a statement's table could not be told, so it may have
        if unknown or not ROUND_TABLES.isdisjoint(tables):  # been any of them
            self.generation += 1
            self._prompts.clear()
        if unknown or not WATCHED_TABLES.isdisjoint(tables):
            self.generation += 1
            self._actors.clear()
            self._prompts.clear()  # a person erased or moved between teams

    def clear(self) -> None:
        self.generation += 1
        self._actors.clear()
        self._prompts.clear()
