"""SQLAlchemy models for the design's domain model.

The privacy rules shape this file more than convenience does: `Answer` has no column,
foreign key or index reaching a person or a delivery, no timestamp, and a random id; on
SQLite it is a WITHOUT ROWID table so that insertion order leaves no rowid behind.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from storage.values import (
    CadenceKind,
    DeliveryKind,
    DeliveryStatus,
    MembershipRole,
    PersonRole,
    ReleaseStatus,
    RoundStatus,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def db_enum(values: type[StrEnum], name: str) -> Enum:
    """A column of one of storage/values.py's vocabularies: the members' values are what is
    stored (SQLAlchemy would store their names), and reads give members back."""
    return Enum(values, name=name, values_callable=lambda members: [m.value for m in members])


def random_id() -> str:
    """Random, unordered ids: nothing can be learned from their order or value."""
    return secrets.token_hex(16)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Workspace(Base):
    __tablename__ = "workspaces"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str] = mapped_column(String(16), default="en")
    threshold: Mapped[int] = mapped_column(SmallInteger, default=5)
    comment_threshold: Mapped[int] = mapped_column(SmallInteger, default=5)
    retention_days: Mapped[int | None] = mapped_column(Integer, default=None)
    installation: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The organisation's support programme (e.g. employee assistance), shown with the line that
    # very low answers always get; https only (`workspace set --support-url`).
    support_url: Mapped[str | None] = mapped_column(String(500), default=None)


class Person(Base):
    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    locale: Mapped[str | None] = mapped_column(String(16), default=None)
    role: Mapped[PersonRole] = mapped_column(
        db_enum(PersonRole, "person_role"), default=PersonRole.MEMBER
    )
    paused_until: Mapped[date | None] = mapped_column(Date, default=None)
    conversation_ref: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    stub: Mapped[bool] = mapped_column(Boolean, default=False)


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)


class Membership(Base):
    """A person's home team (role member, at most one) or a team they manage."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("person_id", "team_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    role: Mapped[MembershipRole] = mapped_column(db_enum(MembershipRole, "membership_role"))
    # For a member made manager: they see only rounds opened after this moment, never a
    # round whose population they were in (design: "Team and Membership").
    results_from: Mapped[datetime | None] = mapped_column(default=None)
    # For a member who moved here from a team whose round of this period they were (or may
    # have been) in: this team's rounds opening before this moment leave them out, so nobody
    # is in two populations of one period (two releases could otherwise be subtracted).
    counted_from: Mapped[datetime | None] = mapped_column(default=None)


class Schedule(Base):
    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), unique=True)
    cadence: Mapped[CadenceKind] = mapped_column(db_enum(CadenceKind, "schedule_cadence"))
    weekday: Mapped[int] = mapped_column(SmallInteger)  # 0 = Monday
    local_time: Mapped[str] = mapped_column(String(5))  # HH:MM
    week_of_month: Mapped[int | None] = mapped_column(SmallInteger, default=None)  # -1 = last
    anchor: Mapped[date | None] = mapped_column(Date, default=None)
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    member_local: Mapped[bool] = mapped_column(Boolean, default=False)
    remind_after_minutes: Mapped[int] = mapped_column(Integer, default=24 * 60)
    close_after_minutes: Mapped[int] = mapped_column(Integer, default=72 * 60)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Periods before this are never "missed": catch-up starts from the schedule's creation.
    created_at: Mapped[datetime | None] = mapped_column(default=None)


class Round(Base):
    __tablename__ = "rounds"
    __table_args__ = (UniqueConstraint("team_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(16))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    threshold: Mapped[int] = mapped_column(SmallInteger)
    comment_threshold: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[RoundStatus] = mapped_column(db_enum(RoundStatus, "round_status"))
    # Closed, but the scrub after the close (storage/maintenance.py) has not finished: the
    # deleted answers may still be in the database's files. Retried by every scheduler pass.
    scrub_pending: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )


class Delivery(Base):
    """The outbox. Created at open, which freezes the population; no time of answering.

    At close the prompt rows are reduced to counts on the release and deleted, so nothing at
    rest says who answered.
    """

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("round_id", "person_id", "kind"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_id)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), nullable=True
    )
    # closed_notice: "this round closed" edited into a sent prompt after close. It carries the
    # prompt's message reference only: no person, never answered, the same for every prompt.
    # checked_in: "you checked in" edited into a prompt just answered, queued with the answer.
    # The prompt's reference (and the locale it was written in) only: no person, no time; it
    # is deleted once sent, and with the round's raw data at close (bot/rounds/notices.py).
    kind: Mapped[DeliveryKind] = mapped_column(db_enum(DeliveryKind, "delivery_kind"))
    not_before: Mapped[datetime]
    # claimed: leased by a dispatcher, not yet on the wire. sending: its platform call is in
    # flight (or was, when a process died), so a retake must look before sending again.
    status: Mapped[DeliveryStatus] = mapped_column(
        db_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Recovery lookups that failed since the row last went on the wire: bounded, then decided.
    lookups: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    message_ref: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    answered: Mapped[bool] = mapped_column(Boolean, default=False)


class Answer(Base):
    """One anonymous check-in: a random id, the round, five scores, an optional shared line."""

    __tablename__ = "answers"
    __table_args__ = ({"sqlite_with_rowid": False},)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_id)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    assess: Mapped[int] = mapped_column(SmallInteger)
    routine: Mapped[int] = mapped_column(SmallInteger)
    training: Mapped[int] = mapped_column(SmallInteger)
    strengths: Mapped[int] = mapped_column(SmallInteger)
    path: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text, default=None)


class Release(Base):
    """The immutable snapshot computed at close: all a manager ever sees of a round."""

    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), unique=True)
    status: Mapped[ReleaseStatus] = mapped_column(db_enum(ReleaseStatus, "release_status"))
    respondents: Mapped[int] = mapped_column(Integer)
    delivered: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int] = mapped_column(SmallInteger)
    computed_at: Mapped[datetime]
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=True
    )
    at: Mapped[datetime]
    actor_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), nullable=True
    )
    actor_label: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), nullable=True
    )
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class SendWindow(Base):
    """A workspace's send rate, shared by every replica: the next free slot and any pause a
    platform asked for (a 429's Retry-After pauses the whole workspace)."""

    __tablename__ = "send_windows"

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    next_slot_at: Mapped[datetime]
    paused_until: Mapped[datetime | None] = mapped_column(default=None)


class ProcessedEvent(Base):
    """Inbound platform event ids already handled, so a retry has no second effect. Only
    events a platform retries are kept, only while it may retry them (bot/admin/records.py), and
    `seen_at` only to the minute."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime]
    # False while the work runs: a claim not done within CLAIM_LEASE (a process killed in
    # between) is taken over by the platform's next retry (storage/repositories.claim_event).
    done: Mapped[bool] = mapped_column(server_default=true())
