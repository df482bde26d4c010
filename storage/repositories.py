"""Queries the services share. Each takes the caller's session: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    null,
    select,
    text,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import configure_mappers, make_transient_to_detached
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from storage.direct import DirectConnection
from storage.models import (
    Answer,
    AuditEvent,
    Base,
    Delivery,
    Membership,
    Person,
    ProcessedEvent,
    Release,
    Round,
    Schedule,
    Team,
    Workspace,
    random_id,
)
from storage.values import DeliveryKind, DeliveryStatus, MembershipRole, RoundStatus

# The hot path's queries take a session, a bare connection, or a driver's connection
# (`storage.db.Sessions.reading` and `writing`, storage/direct.py): all execute the same Core
# statements.
Executor = AsyncSession | AsyncConnection | DirectConnection
M = TypeVar("M", bound=Base)


async def insert_unless_present(
    session: AsyncSession, model: type[Any], values: Mapping[str, Any], *, unique: Sequence[str]
) -> int:
    """`INSERT … ON CONFLICT (unique) DO NOTHING` in the dialect of the session's database
    (PostgreSQL's, else SQLite's): the row, unless one with the same `unique` columns is there
    already, here or written by another replica. Returns how many rows it added (0 or 1)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(model).values(**values).on_conflict_do_nothing(index_elements=list(unique))
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def workspace_by_external_id(
    session: AsyncSession, external_id: str, platform: str | None = None
) -> Workspace | None:
    query = select(Workspace).where(Workspace.external_id == external_id)
    if platform is not None:
        query = query.where(Workspace.platform == platform)
    return (await session.scalars(query)).first()


# The chat path's hottest statements are built once, with bound parameters: building a
# statement and its cache key per call cost about 0.3 ms, more than SQLite takes to answer it.
# The sender's is read as plain rows (no ORM session, no ORM loading: about half of what the
# read cost) and made into detached instances of the models, as a closed session leaves them.
_WORKSPACES = Base.metadata.tables["workspaces"]
_PEOPLE = Base.metadata.tables["people"]
_MEMBERSHIPS = Base.metadata.tables["memberships"]
_TEAMS = Base.metadata.tables["teams"]
_ROUNDS = Base.metadata.tables["rounds"]
_DELIVERIES = Base.metadata.tables["deliveries"]

# The open round of a membership's team (its newest, as `open_round` picks), correlated with
# the membership row it is joined to.
_MEMBERSHIPS_OPEN_ROUND = (
    select(_ROUNDS.c.id)
    .where(_ROUNDS.c.team_id == _MEMBERSHIPS.c.team_id, _ROUNDS.c.status == RoundStatus.OPEN)
    .order_by(_ROUNDS.c.opens_at.desc())
    .limit(1)
    .correlate(_MEMBERSHIPS)
    .scalar_subquery()
)


def _prompt_in_round(person_id: Any) -> ColumnElement[bool]:
    """The join of a round (`_ROUNDS`) to the person's prompt delivery in it."""
    return and_(
        _DELIVERIES.c.round_id == _ROUNDS.c.id,
        _DELIVERIES.c.person_id == person_id,
        _DELIVERIES.c.kind == DeliveryKind.PROMPT,
    )


def _sender_select(*, with_prompt: bool) -> Select[Any]:
    """The workspace, the person, their memberships and teams; `with_prompt`: beside the home
    team's row, its open round's period and the person's prompt's `answered` in it (NULL: no
    prompt)."""
    columns: list[Any] = [*_WORKSPACES.c, *_PEOPLE.c, _MEMBERSHIPS.c.role, *_TEAMS.c]
    if with_prompt:
        columns += [_ROUNDS.c.period, _DELIVERIES.c.answered]
    query = (
        select(*columns)
        .select_from(_WORKSPACES)
        .outerjoin(
            _PEOPLE,
            and_(
                _PEOPLE.c.workspace_id == _WORKSPACES.c.id,
                _PEOPLE.c.user_id == bindparam("user_id"),
            ),
        )
        .outerjoin(_MEMBERSHIPS, _MEMBERSHIPS.c.person_id == _PEOPLE.c.id)
        .outerjoin(_TEAMS, _TEAMS.c.id == _MEMBERSHIPS.c.team_id)
    )
    if with_prompt:
        query = query.outerjoin(
            _ROUNDS,
            and_(
                _MEMBERSHIPS.c.role == MembershipRole.MEMBER,
                _ROUNDS.c.id == _MEMBERSHIPS_OPEN_ROUND,
            ),
        ).outerjoin(_DELIVERIES, _prompt_in_round(_PEOPLE.c.id))
    return query.where(
        _WORKSPACES.c.external_id == bindparam("external_id"),
        _WORKSPACES.c.platform == bindparam("platform"),
    )


_SENDER_ROWS = {flag: _sender_select(with_prompt=flag) for flag in (False, True)}


class _Detached(Generic[M]):
    """Instances of a model made from its table's columns in a row, from `start` on: each
    detached (no session) with its identity, every column loaded, as an instance loaded by a
    session and left behind when the session closed."""

    def __init__(self, model: type[M], start: int) -> None:
        mapper = sa_inspect(model)
        self._new = cast(Callable[[], M], mapper.class_manager.new_instance)
        self._keys = [mapper.get_property_by_column(c).key for c in mapper.local_table.c]
        self._slice = slice(start, start + len(self._keys))
        self.end = start + len(self._keys)
        self._configured = False

    def __call__(self, row: Sequence[Any]) -> M:
        if not self._configured:  # the first, perhaps before any ORM query of the process
            configure_mappers()
            self._configured = True
        instance = self._new()
        instance.__dict__.update(zip(self._keys, row[self._slice], strict=True))
        make_transient_to_detached(instance)
        return instance


_SENDER_WORKSPACE = _Detached(Workspace, 0)
_SENDER_PERSON = _Detached(Person, _SENDER_WORKSPACE.end)
_SENDER_ROLE = _SENDER_PERSON.end
_SENDER_TEAM = _Detached(Team, _SENDER_ROLE + 1)
_SENDER_PERIOD = _SENDER_TEAM.end  # with_prompt: then the prompt's `answered`


@dataclass(frozen=True)
class SenderRows:
    """What `sender_rows` read. `prompt`, when asked for and the person has a home team: its
    open round's period (None: no round open), whether their prompt in it is answered and
    whether they have one (`prompt_state`)."""

    workspace: Workspace | None
    person: Person | None
    teams: list[tuple[MembershipRole, Team]]
    prompt: tuple[str | None, bool, bool] | None = None


async def sender_rows(
    session: Executor,
    platform: str,
    external_id: str,
    user_id: str,
    *,
    with_prompt: bool = False,
) -> SenderRows:
    """The workspace, the person in it (None when unknown) and their memberships with their
    teams, in one statement: the read behind every event not served from the actor cache,
    where each further statement costs a round trip. A session or, cheaper, a bare reading
    connection (`storage.db.Sessions.reading`); detached instances either way. `with_prompt`
    adds the home team's prompt state (`prompt_state`) to the same statement, for a check-in
    button pressed or a Home opened by someone not in the cache: one read where there were
    two."""
    rows = (
        await session.execute(
            _SENDER_ROWS[with_prompt],
            {"platform": platform, "external_id": external_id, "user_id": user_id},
        )
    ).all()
    if not rows:
        return SenderRows(None, None, [])
    first = rows[0]
    workspace = _SENDER_WORKSPACE(first)
    if first[_SENDER_WORKSPACE.end] is None:  # no such person: the outer join's NULLs
        return SenderRows(workspace, None, [])
    person = _SENDER_PERSON(first)
    teams = [
        (row[_SENDER_ROLE], _SENDER_TEAM(row))
        for row in rows
        if row[_SENDER_ROLE] is not None and row[_SENDER_ROLE + 1] is not None
    ]
    prompt = None
    if with_prompt:
        home = [
            row
            for row in rows
            if row[_SENDER_ROLE] == MembershipRole.MEMBER and row[_SENDER_ROLE + 1] is not None
        ]
        if home:
            answered = home[0][_SENDER_PERIOD + 1]
            prompt = (home[0][_SENDER_PERIOD], bool(answered), answered is not None)
    return SenderRows(workspace, person, teams, prompt)


async def all_workspaces(session: AsyncSession) -> Sequence[Workspace]:
    return (await session.scalars(select(Workspace).order_by(Workspace.id))).all()


async def person_by_user_id(
    session: AsyncSession, workspace_id: int, user_id: str
) -> Person | None:
    return await session.scalar(
        select(Person).where(Person.workspace_id == workspace_id, Person.user_id == user_id)
    )


async def people_in(session: AsyncSession, workspace_id: int) -> Sequence[Person]:
    return (
        await session.scalars(
            select(Person).where(Person.workspace_id == workspace_id).order_by(Person.display_name)
        )
    ).all()


async def team_by_name(session: AsyncSession, workspace_id: int, name: str) -> Team | None:
    exact = await session.scalar(
        select(Team).where(Team.workspace_id == workspace_id, Team.name == name)
    )
    if exact is not None:
        return exact
    return await session.scalar(
        select(Team).where(Team.workspace_id == workspace_id, func.lower(Team.name) == name.lower())
    )


async def teams_in(session: AsyncSession, workspace_id: int) -> Sequence[Team]:
    return (
        await session.scalars(
            select(Team).where(Team.workspace_id == workspace_id).order_by(Team.name)
        )
    ).all()


async def memberships_of(session: AsyncSession, person_id: int) -> Sequence[Membership]:
    return (
        await session.scalars(select(Membership).where(Membership.person_id == person_id))
    ).all()


async def team_people(
    session: AsyncSession, team_id: int, role: MembershipRole
) -> Sequence[Person]:
    return (
        await session.scalars(
            select(Person)
            .join(Membership, Membership.person_id == Person.id)
            .where(Membership.team_id == team_id, Membership.role == role)
            .order_by(Person.display_name, Person.user_id)
        )
    ).all()


async def schedule_of(session: AsyncSession, team_id: int) -> Schedule | None:
    return await session.scalar(select(Schedule).where(Schedule.team_id == team_id))


async def round_for(session: AsyncSession, team_id: int, period: str) -> Round | None:
    return await session.scalar(
        select(Round).where(Round.team_id == team_id, Round.period == period)
    )


async def open_round(
    session: AsyncSession, team_id: int, *, lock: str | None = None
) -> Round | None:
    """The team's open round. `lock="share"` (a check-in) or `"update"` (a close) orders the
    two on PostgreSQL, so an answer is never committed into a round that closed meanwhile;
    SQLite's BEGIN IMMEDIATE already serialises them."""
    query = (
        select(Round)
        .where(Round.team_id == team_id, Round.status == RoundStatus.OPEN)
        .order_by(Round.opens_at.desc())
    )
    if lock == "share":
        query = query.with_for_update(read=True)
    elif lock == "update":
        query = query.with_for_update()
    return await session.scalar(query)


async def rounds_of(session: AsyncSession, team_id: int) -> Sequence[Round]:
    return (
        await session.scalars(
            select(Round).where(Round.team_id == team_id).order_by(Round.opens_at)
        )
    ).all()


async def closed_rounds_with_releases(
    session: AsyncSession, team_id: int
) -> Sequence[tuple[Round, Release]]:
    rows = await session.execute(
        select(Round, Release)
        .join(Release, Release.round_id == Round.id)
        .where(Round.team_id == team_id)
        .order_by(Round.opens_at)
    )
    return [(r, rel) for r, rel in rows]


def _open_round_beside_prompt(*columns: Any) -> Select[Any]:
    """`columns` of the team's newest open round beside the person's prompt in it (NULLs when
    they have none), `team_id` and `person_id` bound at execution; against the tables, so
    the rows are plain."""
    return (
        select(*columns)
        .select_from(_ROUNDS)
        .outerjoin(_DELIVERIES, _prompt_in_round(bindparam("person_id")))
        .where(_ROUNDS.c.team_id == bindparam("team_id"), _ROUNDS.c.status == RoundStatus.OPEN)
        .order_by(_ROUNDS.c.opens_at.desc())
        .limit(1)
    )


_PROMPT_STATE = _open_round_beside_prompt(_ROUNDS.c.period, _DELIVERIES.c.answered)


async def prompt_state(
    session: AsyncSession, team_id: int, person_id: int
) -> tuple[str | None, bool, bool]:
    """The team's open round's period (None: no round open), whether the person's prompt in
    it is answered and whether they have one, in one statement: what the check-in button
    needs to know before the form opens, and a member's Home."""
    row = (
        await session.execute(_PROMPT_STATE, {"team_id": team_id, "person_id": person_id})
    ).first()
    if row is None:
        return None, False, False
    return row[0], bool(row[1]), row[1] is not None


# The check-in's transaction (bot/rounds/checkin.py), built once with bound parameters and
# against the tables, not the mapped classes: plain rows and no ORM on a burst's hot path.
# Per call, building an ORM `update(...).values(status=case(...))` or `insert(Model).values(...)`
# and loading ORM entities cost more than SQLite takes to run the four statements.
_ANSWERS = Base.metadata.tables["answers"]


@dataclass(frozen=True, slots=True)
class OpenRound:
    """What a check-in needs of the team's open round."""

    id: int
    period: str
    opens_at: datetime


@dataclass(frozen=True, slots=True)
class Prompt:
    """What a check-in needs of the member's prompt delivery in that round."""

    id: str
    status: DeliveryStatus
    answered: bool
    message_ref: dict[str, Any] | None
    # The member's pause as the database has it in this transaction (the actor may come from
    # a process's cache, which lags a pause made on another replica).
    paused_until: date | None = None


_ROUND_AND_PROMPT = _open_round_beside_prompt(
    _ROUNDS.c.id,
    _ROUNDS.c.period,
    _ROUNDS.c.opens_at,
    _DELIVERIES.c.id,
    _DELIVERIES.c.status,
    _DELIVERIES.c.answered,
    _DELIVERIES.c.message_ref,
    select(_PEOPLE.c.paused_until).where(_PEOPLE.c.id == bindparam("person_id")).scalar_subquery(),
)
_ROUND_AND_PROMPT_LOCKED = {
    None: _ROUND_AND_PROMPT,
    "share": _ROUND_AND_PROMPT.with_for_update(read=True, of=_ROUNDS),
    "update": _ROUND_AND_PROMPT.with_for_update(of=_ROUNDS),
}


async def open_round_and_prompt(
    session: Executor, team_id: int, person_id: int, *, lock: str | None = None
) -> tuple[OpenRound | None, Prompt | None]:
    """The team's newest open round and the person's prompt delivery in it, in one
    statement (the check-in's transaction), as plain values; `lock` as `open_round` says,
    taken on the round only."""
    query = _ROUND_AND_PROMPT_LOCKED[lock]
    row = (await session.execute(query, {"team_id": team_id, "person_id": person_id})).first()
    if row is None:
        return None, None
    rnd = OpenRound(row[0], row[1], row[2])
    if row[3] is None:
        return rnd, None
    return rnd, Prompt(row[3], row[4], bool(row[5]), row[6], row[7])


async def prompt_delivery(session: AsyncSession, round_id: int, person_id: int) -> Delivery | None:
    return await session.scalar(
        select(Delivery).where(
            Delivery.round_id == round_id,
            Delivery.person_id == person_id,
            Delivery.kind == DeliveryKind.PROMPT,
        )
    )


_COUNTED_FROM = select(_MEMBERSHIPS.c.counted_from).where(
    _MEMBERSHIPS.c.person_id == bindparam("person_id"),
    _MEMBERSHIPS.c.team_id == bindparam("team_id"),
)


async def counted_from(session: Executor, person_id: int, team_id: int) -> datetime | None:
    """Since when the person counts in the team's rounds (None: since they joined)."""
    return (
        await session.execute(_COUNTED_FROM, {"person_id": person_id, "team_id": team_id})
    ).scalar()


# A prompt still pending, or only claimed by a dispatcher, becomes sent; any other keeps its
# status. The values are bound once, here: only the delivery's id is given per call. (The
# statuses are literals, not a list of values: that would be an "expanding" parameter, whose
# SQL is rendered again at every execution.)
_STATUS = _DELIVERIES.c.status.type
_ANSWERED = {
    "answered": True,
    "status": case(
        (
            _DELIVERIES.c.status.in_(
                [
                    literal(DeliveryStatus.PENDING, _STATUS),
                    literal(DeliveryStatus.CLAIMED, _STATUS),
                ]
            ),
            literal(DeliveryStatus.SENT, _STATUS),
        ),
        else_=_DELIVERIES.c.status,
    ),
}
_MARK_ANSWERED = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("delivery_id"), _DELIVERIES.c.answered.is_(False))
    .values(_ANSWERED)
)


async def mark_answered(session: Executor, delivery_id: str) -> bool:
    """Compare-and-set, so two concurrent submissions cannot both count.

    A prompt still pending, or only claimed by a dispatcher (not on the wire yet), counts as
    delivered from now on (the member reached the check-in by asking), so answered never
    exceeds delivered and no prompt follows their answer: the claim is lost, so not sent.
    """
    result = await session.execute(_MARK_ANSWERED, {"delivery_id": delivery_id})
    return bool(getattr(result, "rowcount", 0) == 1)


def _every_column(table: Any, prefix: str = "") -> dict[str, Any]:
    """A named value for each of `table`'s columns: an insert that gets no Python-side column
    default, so it runs on a driver's connection as it is (storage/direct.py)."""
    return {column.key: bindparam(f"{prefix}{column.key}") for column in table.c}


# Every value is given, the random ids and the model's scalar defaults included.
_INSERT_ANSWER = insert(_ANSWERS).values(_every_column(_ANSWERS))
_INSERT_DELIVERY = insert(_DELIVERIES).values(_every_column(_DELIVERIES))
# PostgreSQL: the answer and the edit in one statement (one round trip, not two), the answer
# inserted by a data-modifying WITH.
_INSERT_EDIT_WITH_ANSWER = (
    insert(_DELIVERIES)
    .values(_every_column(_DELIVERIES))
    .add_cte(insert(_ANSWERS).values(_every_column(_ANSWERS, "answer_")).cte("answer"))
)
_DELIVERY_DEFAULTS = {
    column.key: column.default.arg
    if isinstance(column.default, ScalarElementColumnDefault)
    else None
    for column in _DELIVERIES.c
}


@dataclass(frozen=True, slots=True)
class CheckedInEdit:
    """A prompt's "checked in" edit: when it is due and the prompt's message reference (with
    the locale to write it in); bot/rounds/checkin.py `checked_in_edit` says what it holds."""

    not_before: datetime
    message_ref: dict[str, Any]


def _edit_row(round_id: int, edit: CheckedInEdit) -> dict[str, Any]:
    """The outbox row of `edit`: no person, not answered, pending (every column given)."""
    return {
        **_DELIVERY_DEFAULTS,
        "id": random_id(),
        "round_id": round_id,
        "person_id": None,
        "kind": DeliveryKind.CHECKED_IN,
        "not_before": edit.not_before,
        "status": DeliveryStatus.PENDING,
        "message_ref": edit.message_ref,
        "answered": False,
    }


def _dialect_of(session: Executor) -> str:
    if isinstance(session, AsyncSession):
        return session.get_bind().dialect.name
    return session.dialect.name


async def add_answer(
    session: Executor,
    round_id: int,
    scores: Mapping[str, int],
    comment: str | None,
    *,
    edit: CheckedInEdit | None = None,
) -> None:
    """One anonymous answer (a random id, the round, the five scores, a shared line or
    None): nothing else, as storage/models.py's `Answer` says. With `edit`, the prompt's
    "checked in" edit is queued too (`add_checked_in_edit`): on PostgreSQL in the same
    statement."""
    answer = {"id": random_id(), "round_id": round_id, "comment": comment, **scores}
    if edit is not None and _dialect_of(session) == "postgresql":
        await session.execute(
            _INSERT_EDIT_WITH_ANSWER,
            {
                **{f"answer_{key}": value for key, value in answer.items()},
                **_edit_row(round_id, edit),
            },
        )
        return
    await session.execute(_INSERT_ANSWER, answer)
    if edit is not None:
        await add_checked_in_edit(session, round_id, edit)


async def add_checked_in_edit(session: Executor, round_id: int, edit: CheckedInEdit) -> None:
    """A pending `checked_in` outbox row for the prompt at `edit.message_ref`: no person, not
    answered."""
    await session.execute(_INSERT_DELIVERY, _edit_row(round_id, edit))


def _checkin_at_once() -> Select[Any]:
    """PostgreSQL: a check-in stored by one statement, without a transaction around it (one
    round trip where the transaction took five), when it can be stored; else it changes
    nothing, and `record_checkin`'s transaction finds out why.

    It can be stored as the transaction would store it: the team's newest open round (its
    row share-locked, as a close waits for), the person's prompt in it, not skipped nor
    failed, the person not paused (`paused_until` before `today`), the prompt not answered
    yet (the compare-and-set). Then the prompt is marked answered, the answer inserted and,
    if the prompt reached the platform, its "checked in" edit queued with the prompt's
    reference and `locale` (as `bot/rounds/checkin.py` `checked_in_edit` writes it). The
    reference is the one the UPDATE returns, the prompt row's newest version: a dispatcher
    that records the send while the statement waits on the row is not missed. The
    statement's row, if any: the round's period and whether an edit was queued."""
    target = (
        _open_round_beside_prompt(
            _ROUNDS.c.id.label("round_id"),
            _ROUNDS.c.period,
            _ROUNDS.c.opens_at,
            _DELIVERIES.c.id.label("delivery_id"),
        )
        .with_for_update(read=True, of=_ROUNDS)
        .cte("target")
    )
    not_paused = ~exists().where(
        _PEOPLE.c.id == bindparam("person_id"), _PEOPLE.c.paused_until >= bindparam("today")
    )
    skipped_or_failed = [
        literal(DeliveryStatus.SKIPPED, _STATUS),
        literal(DeliveryStatus.FAILED, _STATUS),
    ]
    marked = (
        update(_DELIVERIES)
        .where(
            _DELIVERIES.c.id == target.c.delivery_id,
            _DELIVERIES.c.answered.is_(False),
            _DELIVERIES.c.status.not_in(skipped_or_failed),
            not_paused,
        )
        .values(_ANSWERED)
        .returning(target.c.round_id, target.c.period, target.c.opens_at, _DELIVERIES.c.message_ref)
        .cte("marked")
    )
    answer_values: dict[str, Any] = {
        column.key: bindparam(f"answer_{column.key}", type_=column.type) for column in _ANSWERS.c
    }
    answer_values["round_id"] = marked.c.round_id
    answer = (
        insert(_ANSWERS)
        .from_select(list(answer_values), select(*answer_values.values()))
        .cte("answer")
    )
    ref = sql_cast(marked.c.message_ref, JSONB)
    # As `if prompt.message_ref:` reads it: an object with something in it (not SQL NULL,
    # not JSON's null, which is how the JSON type stores None).
    has_ref = and_(func.jsonb_typeof(ref) == "object", ref != func.jsonb_build_object())
    sent_ref = func.jsonb_build_object(
        *(
            part
            for key in ("platform", "channel_id", "message_id")
            for part in (key, ref[key].astext)
        ),
        "locale",
        bindparam("locale", type_=String),
    )
    edit_values: dict[str, Any] = {
        **{
            key: literal(value, _DELIVERIES.c[key].type)
            for key, value in _DELIVERY_DEFAULTS.items()
            if key != "id"
        },
        "id": bindparam("edit_id", type_=_DELIVERIES.c.id.type),
        "round_id": marked.c.round_id,
        "person_id": null(),
        "kind": literal(DeliveryKind.CHECKED_IN, _DELIVERIES.c.kind.type),
        "not_before": marked.c.opens_at,
        "status": literal(DeliveryStatus.PENDING, _STATUS),
        "message_ref": sql_cast(sent_ref, JSON),
        "answered": false(),
    }
    edit = (
        insert(_DELIVERIES)
        .from_select(list(edit_values), select(*edit_values.values()).where(has_ref))
        .cte("edit")
    )
    return select(marked.c.period, has_ref).add_cte(answer, edit)


_CHECKIN_AT_ONCE = _checkin_at_once()


@dataclass(frozen=True, slots=True)
class StoredAtOnce:
    """A check-in `store_checkin_at_once` stored: the round's period, and whether the
    prompt's "checked in" edit was queued."""

    period: str
    edit_queued: bool


def stores_at_once(engine: AsyncEngine) -> bool:
    """Whether `store_checkin_at_once` can run on this database (PostgreSQL's data-modifying
    WITH; SQLite has none, and its transaction costs no round trips)."""
    return engine.dialect.name == "postgresql"


async def store_checkin_at_once(
    session: Executor,
    team_id: int,
    person_id: int,
    today: date,
    scores: Mapping[str, int],
    comment: str | None,
    locale: str,
) -> StoredAtOnce | None:
    """The check-in stored in one statement (`_checkin_at_once` says when), or None: nothing
    was changed. Outside a transaction: the statement is one."""
    answer = {"id": random_id(), "comment": comment, **scores}  # its round: the statement's
    row = (
        await session.execute(
            _CHECKIN_AT_ONCE,
            {
                "team_id": team_id,
                "person_id": person_id,
                "today": today,
                "locale": locale,
                "edit_id": random_id(),
                **{f"answer_{key}": value for key, value in answer.items()},
            },
        )
    ).first()
    return None if row is None else StoredAtOnce(row[0], bool(row[1]))


async def participation(session: AsyncSession, round_id: int) -> tuple[int, int]:
    """(answered, delivered) for an open round: counts only, never names."""
    row = (
        await session.execute(
            select(
                func.count().filter(Delivery.answered.is_(True)),
                func.count().filter(Delivery.status == DeliveryStatus.SENT),
            ).where(Delivery.round_id == round_id, Delivery.kind == DeliveryKind.PROMPT)
        )
    ).one()
    return int(row[0]), int(row[1])


async def answer_totals(
    session: AsyncSession, round_id: int, keys: Sequence[str], in_rut_total: int
) -> tuple[int, dict[str, int], dict[str, int], int]:
    """(respondents, sum per key, answers scoring a key ≤ 2, answers whose total is at most
    `in_rut_total`) of a round's answers, folded by the database in one query."""
    columns = [getattr(Answer, k) for k in keys]
    total = sum(columns[1:], columns[0])
    row = (
        await session.execute(
            select(
                func.count(),
                *(func.coalesce(func.sum(c), 0) for c in columns),
                *(func.count().filter(c <= 2) for c in columns),
                func.count().filter(total <= in_rut_total),
            ).where(Answer.round_id == round_id)
        )
    ).one()
    n = len(keys)
    sums = {k: int(row[1 + i]) for i, k in enumerate(keys)}
    lows = {k: int(row[1 + n + i]) for i, k in enumerate(keys)}
    return int(row[0]), sums, lows, int(row[1 + 2 * n])


async def shared_comments(session: AsyncSession, round_id: int) -> list[str]:
    """The lines answers chose to share, in no particular order (the release shuffles)."""
    rows = await session.scalars(
        select(Answer.comment).where(
            Answer.round_id == round_id, Answer.comment.is_not(None), Answer.comment != ""
        )
    )
    return [c for c in rows.all() if c]


# How many prompts' references one `notice_batch` row carries (about 100 bytes each).
NOTICE_BATCH_SIZE = 1000
# PostgreSQL 14 on, built with lz4: `default_toast_compression` accepts it.
_HAS_LZ4 = "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"


async def batch_sent_prompts(
    session: AsyncSession, round_id: int, *, now: datetime, size: int | None = None
) -> int:
    """Queue the closed notices of a round as `notice_batch` rows: the message references of
    its prompts that reached the platform (`message_ref` a non-empty object), `size` (by
    default `NOTICE_BATCH_SIZE`) to a row
    as `{"refs": [...]}`, and nothing else of them: no person, not answered, a random id.
    Returns how many rows. One `INSERT … SELECT` in the database (a round of 100,000 prompts
    is not loaded into the process), writing a hundred rows rather than 100,000, each with
    its foreign-key check and index entries. `expand_notice_batch` turns a row into one
    `closed_notice` per reference, in the dispatcher.

    The references go in the order of the prompts' ids (random, drawn at open by `random_id`
    before anyone answered): a random permutation that follows nothing the round did, not the
    prompts' physical order (a prompt row moves in the heap when it is updated, answered
    included)."""
    if session.get_bind().dialect.name == "sqlite":
        new_id = "lower(hex(randomblob(16)))"
        is_object = "json_type(message_ref) = 'object' AND message_ref <> '{}'"
        # The window emits its rows in id order, and the ORDER BY keeps them so; SQLite's
        # rows do not move when updated (a rowid table), so its scan order is the open's.
        refs = "json_object('refs', json_group_array(json(message_ref)))"
        by_id, order = "id", " ORDER BY n"
    else:
        new_id = "md5(gen_random_uuid()::text)"
        is_object = "json_typeof(message_ref) = 'object' AND message_ref::text <> '{}'"
        refs = "json_build_object('refs', json_agg(message_ref ORDER BY n))"
        # Each batch (about 100 kB of JSON) is compressed into TOAST: lz4, where the server
        # has it, takes a third of the CPU of the default pglz (measured: ~0.1–0.2 s less for
        # a round of 100,000). For this transaction only.
        if await session.scalar(text(_HAS_LZ4)):
            await session.execute(text("SET LOCAL default_toast_compression = 'lz4'"))
        # Byte order: the same permutation as any collation's, without a strcoll() per
        # comparison.
        by_id, order = 'id COLLATE "C"', ""
    result = await session.execute(
        text(
            "INSERT INTO deliveries (id, round_id, person_id, kind, not_before, status,"
            " attempts, lookups, message_ref, answered)"
            f" SELECT {new_id}, :round_id, NULL, :kind, :now, 'pending', 0, 0, {refs}, :answered"
            f" FROM (SELECT message_ref, row_number() OVER (ORDER BY {by_id}) AS n FROM deliveries"
            f" WHERE round_id = :round_id AND kind = 'prompt' AND {is_object}{order}) AS sent"
            " GROUP BY (n - 1) / :size"
        ).bindparams(bindparam("now", type_=Delivery.__table__.c.not_before.type)),
        {
            "kind": DeliveryKind.NOTICE_BATCH.value,
            "now": now,
            "round_id": round_id,
            "answered": False,
            "size": size or NOTICE_BATCH_SIZE,
        },
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def notice_batches(session: AsyncSession, limit: int | None = None) -> list[str]:
    """The ids of the `notice_batch` rows waiting to be expanded (at most `limit`)."""
    rows = await session.scalars(
        select(Delivery.id).where(Delivery.kind == DeliveryKind.NOTICE_BATCH).limit(limit)
    )
    return list(rows.all())


async def expand_notice_batch(session: AsyncSession, batch_id: str) -> int:
    """Replace a `notice_batch` row by one pending `closed_notice` per reference it carries,
    in its order, each with a new random id, the batch's round and time, no person, not
    answered. Returns how many; 0 when the batch is gone (another process expanded it: on
    PostgreSQL the delete waits for that process's transaction, then finds nothing)."""
    columns = (
        "INSERT INTO deliveries (id, round_id, person_id, kind, not_before, status, attempts,"
        " lookups, message_ref, answered)"
    )
    params = {
        "id": batch_id,
        "batch": DeliveryKind.NOTICE_BATCH.value,
        "kind": DeliveryKind.CLOSED_NOTICE.value,
        "answered": False,
    }
    if session.get_bind().dialect.name == "sqlite":
        # One writer at a time: the insert takes the write lock before it reads the batch.
        result = await session.execute(
            text(
                f"{columns} SELECT lower(hex(randomblob(16))), b.round_id, NULL, :kind,"
                " b.not_before, 'pending', 0, 0, ref.value, :answered"
                " FROM deliveries AS b, json_each(b.message_ref, '$.refs') AS ref"
                " WHERE b.id = :id AND b.kind = :batch ORDER BY ref.key"
            ),
            params,
        )
        await session.execute(
            text("DELETE FROM deliveries WHERE id = :id AND kind = :batch"), params
        )
    else:
        result = await session.execute(
            text(
                "WITH b AS (DELETE FROM deliveries WHERE id = :id AND kind = :batch"
                " RETURNING round_id, not_before, message_ref)"
                f" {columns} SELECT md5(gen_random_uuid()::text), b.round_id, NULL, :kind,"
                " b.not_before, 'pending', 0, 0, ref.value, :answered"
                " FROM b, json_array_elements(b.message_ref -> 'refs')"
                " WITH ORDINALITY AS ref(value, n) ORDER BY ref.n"
            ),
            params,
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_round_raw_data(session: AsyncSession, round_id: int) -> None:
    """What close removes: the answers, the per-person prompt and reminder rows, and any
    "checked in" edit still waiting (it says which prompt was answered)."""
    await session.execute(delete(Answer).where(Answer.round_id == round_id))
    await session.execute(
        delete(Delivery).where(
            Delivery.round_id == round_id,
            Delivery.kind.in_(
                (DeliveryKind.PROMPT, DeliveryKind.REMINDER, DeliveryKind.CHECKED_IN)
            ),
        )
    )


async def release_of(session: AsyncSession, round_id: int) -> Release | None:
    return await session.scalar(select(Release).where(Release.round_id == round_id))


async def audit_events(
    session: AsyncSession, workspace_id: int | None = None, limit: int = 200
) -> Sequence[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    if workspace_id is not None:
        query = query.where(AuditEvent.workspace_id == workspace_id)
    return (await session.scalars(query)).all()


# How long a claim whose work has not finished holds off the platform's retries. Work on an
# event takes milliseconds; a claim still not done after this was left by a process that died
# mid-way, and the next retry (Slack's come after 1 and 5 minutes) takes it over and does it.
CLAIM_LEASE = timedelta(minutes=2)


async def claim_event(session: AsyncSession, event_id: str, now: datetime) -> bool:
    """Claim an inbound event id for its work; False when it was seen before (a platform retry)
    and is done or still being worked on elsewhere. A claim left undone for CLAIM_LEASE (its
    process died) is taken over. The time is kept to the minute: enough to forget the id once
    no retry can come, and to see a lease run out, no finer."""
    minute = now.replace(second=0, microsecond=0)
    values = {"event_id": event_id, "seen_at": minute, "done": False}
    if await insert_unless_present(session, ProcessedEvent, values, unique=["event_id"]):
        return True
    taken = await session.execute(
        update(ProcessedEvent)
        .where(
            ProcessedEvent.event_id == event_id,
            ProcessedEvent.done.is_(False),
            ProcessedEvent.seen_at <= minute - CLAIM_LEASE,
        )
        .values(seen_at=minute)
    )
    return bool(getattr(taken, "rowcount", 0))


async def finish_event(session: AsyncSession, event_id: str) -> None:
    """The claimed event's work is done: from now on a retry of it is only a duplicate."""
    await session.execute(
        update(ProcessedEvent).where(ProcessedEvent.event_id == event_id).values(done=True)
    )


async def release_event(session: AsyncSession, event_id: str) -> None:
    """Forget a claimed event id whose handling failed, so the platform's retry is handled."""
    await session.execute(delete(ProcessedEvent).where(ProcessedEvent.event_id == event_id))
