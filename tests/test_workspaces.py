"""bot/admin/workspaces.py: the port adapters use for workspace life events and the people directory."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from bot.admin.workspaces import (
    PersonEntry,
    TeamRole,
    installed_by,
    people_on,
    person_on,
    person_uninstalled,
    platform_uninstalled,
    workspace_installed,
)
from bot.core.context import Context
from bot.core.events import ConversationRef
from bot.rounds.checkin import Scores, record_checkin
from bot.rounds.lifecycle import open_round
from storage.models import AuditEvent, Delivery, Membership, Person, Round, Team, Workspace
from storage.values import MembershipRole
from tests.conftest import START, World


async def count(ctx: Context, model: type, *where: Any) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def audit(ctx: Context, action: str) -> list[AuditEvent]:
    async with ctx.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list((await session.scalars(query)).all())


async def person(ctx: Context, user_id: str) -> Person:
    async with ctx.sessions() as session:
        found = await session.scalar(select(Person).where(Person.user_id == user_id))
        assert found is not None
        return found


async def deliveries_of(ctx: Context, person_id: int) -> dict[str, tuple[str, bool]]:
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(Delivery.kind, Delivery.status, Delivery.answered).where(
                Delivery.person_id == person_id
            )
        )
        return {kind: (status, answered) for kind, status, answered in rows.all()}


# --- installs ----------------------------------------------------------------------------------


async def install(ctx: Context, user_id: str = "UINSTALLER", **extra: Any) -> None:
    await installed_by(
        ctx,
        "slack",
        "T0002",
        name="Beta Corp",
        installer_user_id=user_id,
        installer_ref=ConversationRef("slack", "T0002", user_id),
        installation={"app_id": "A1", "bot_user_id": "B1", "enterprise_id": None},
        **extra,
    )


async def test_installed_by_creates_the_workspace_and_grants_the_installer_first_admin(
    ctx: Context,
) -> None:
    await install(ctx, installer_name="Ines")
    async with ctx.sessions() as session:
        workspace = await session.scalar(select(Workspace).where(Workspace.external_id == "T0002"))
        assert workspace is not None
        assert (workspace.platform, workspace.name) == ("slack", "Beta Corp")
        assert workspace.installation == {
            "app_id": "A1",
            "bot_user_id": "B1",
            "enterprise_id": None,
            "installed_at": START.isoformat(),
        }
    installer = await person(ctx, "UINSTALLER")
    assert installer.workspace_id == workspace.id
    assert (installer.role, installer.display_name) == ("admin", "Ines")
    assert installer.conversation_ref == ConversationRef("slack", "T0002", "UINSTALLER").to_json()
    [event] = await audit(ctx, "app_installed")
    assert event.workspace_id == workspace.id and event.actor_person_id is None
    assert event.actor_label == "slack installation"
    assert event.detail == {"installer": "UINSTALLER"}


async def test_a_second_install_duplicates_nothing(ctx: Context) -> None:
    await install(ctx)
    await install(ctx)
    assert await count(ctx, Workspace) == 1
    assert await count(ctx, Person) == 1
    assert (await person(ctx, "UINSTALLER")).role == "admin"
    assert len(await audit(ctx, "app_installed")) == 2  # each install is its own event


async def test_installing_into_a_known_workspace_keeps_its_name_and_promotes_a_known_member(
    world: World,
) -> None:
    ctx = world.ctx
    before = await person(ctx, "u0")
    await installed_by(ctx, "playground", "T0001", name="Renamed", installer_user_id="u0")
    assert await count(ctx, Workspace) == 1
    async with ctx.sessions() as session:
        workspace = await session.get(Workspace, world.workspace.id)
        assert workspace is not None and workspace.name == "Acme"  # chosen by an admin
    after = await person(ctx, "u0")
    assert after.id == before.id and after.role == "admin"
    assert after.conversation_ref == before.conversation_ref
    assert await count(ctx, Membership, Membership.person_id == after.id) == 1


async def test_workspace_installed_records_the_install_and_grants_nobody(world: World) -> None:
    """The Teams path: only `rutradar admin add` makes admins there."""
    ctx = world.ctx
    await workspace_installed(
        ctx, "teams", "tenant-1", name="Contoso", installation={"service_url": "https://x"}
    )
    await workspace_installed(ctx, "teams", "tenant-1")
    async with ctx.sessions() as session:
        [workspace] = (
            await session.scalars(select(Workspace).where(Workspace.platform == "teams"))
        ).all()
    assert workspace.name == "Contoso"
    assert workspace.installation == {"service_url": "https://x", "installed_at": START.isoformat()}
    assert await count(ctx, Person, Person.workspace_id == workspace.id) == 0
    events = await audit(ctx, "app_installed")
    assert [(e.workspace_id, e.actor_label, e.detail) for e in events] == [
        (workspace.id, "teams installation", None)
    ] * 2
    # Nobody anywhere gained a role.
    assert await count(ctx, Person, Person.role == "admin") == 1  # the world's own admin


# --- a person removes the app (Teams personal scope) ------------------------------------------


async def test_person_uninstalled_forgets_the_reference_and_skips_only_their_waiting_deliveries(
    world: World,
) -> None:
    ctx = world.ctx
    await open_round(ctx, world.cli, world.team)
    gone, answered, sent, other, in_flight = [await person(ctx, f"u{i}") for i in range(5)]
    async with ctx.sessions.begin() as session:
        rnd = await session.scalar(select(Round))
        assert rnd is not None
        session.add(Delivery(round_id=rnd.id, person_id=gone.id, kind="reminder", not_before=START))
        await session.execute(
            update(Delivery).where(Delivery.person_id == sent.id).values(status="sent")
        )
        await session.execute(  # the dispatcher is calling the platform: its outcome decides
            update(Delivery).where(Delivery.person_id == in_flight.id).values(status="sending")
        )
    result = await record_checkin(
        ctx,
        await world.actor(answered),
        Scores(dict.fromkeys(("assess", "routine", "training", "strengths", "path"), 3), None),
    )
    assert result.period == "2026-W48"
    before_other = await deliveries_of(ctx, other.id)

    for who in (gone, answered, sent, in_flight):
        assert await person_uninstalled(ctx, "playground", "T0001", who.user_id)

    assert await deliveries_of(ctx, gone.id) == {
        "prompt": ("skipped", False),
        "reminder": ("skipped", False),
    }
    assert await deliveries_of(ctx, answered.id) == {"prompt": ("sent", True)}  # still counted
    assert await deliveries_of(ctx, sent.id) == {"prompt": ("sent", False)}
    assert await deliveries_of(ctx, in_flight.id) == {"prompt": ("sending", False)}
    assert await deliveries_of(ctx, other.id) == before_other == {"prompt": ("pending", False)}
    for who in (gone, answered, sent, in_flight):
        fresh = await person(ctx, who.user_id)
        assert fresh.conversation_ref is None
        assert (fresh.role, fresh.display_name) == (who.role, who.display_name)
        assert await count(ctx, Membership, Membership.person_id == who.id) == 1  # still here
    assert (await person(ctx, "u3")).conversation_ref is not None

    events = await audit(ctx, "person_uninstalled")
    assert [(e.actor_label, e.actor_person_id, e.detail) for e in events] == [
        ("playground platform", None, {"user": "u0"}),
        ("playground platform", None, {"user": "u1"}),
        ("playground platform", None, {"user": "u2"}),
        ("playground platform", None, {"user": "u4"}),
    ]


async def test_person_uninstalled_for_someone_unknown_changes_nothing(world: World) -> None:
    ctx = world.ctx
    assert not await person_uninstalled(ctx, "playground", "T0001", "nobody")
    assert not await person_uninstalled(ctx, "teams", "T0001", "u0")  # another platform
    assert not await person_uninstalled(ctx, "playground", "T9999", "u0")
    assert await audit(ctx, "person_uninstalled") == []
    assert (await person(ctx, "u0")).conversation_ref is not None


# --- the workspace removes the app -------------------------------------------------------------


async def test_platform_uninstalled_deletes_people_memberships_and_deliveries(world: World) -> None:
    ctx = world.ctx
    await open_round(ctx, world.cli, world.team)
    await installed_by(ctx, "playground", "T0001", name=None, installer_user_id="root")
    assert await count(ctx, Delivery) == 6
    assert await platform_uninstalled(ctx, "playground", "T0001")
    assert (await count(ctx, Person), await count(ctx, Membership), await count(ctx, Delivery)) == (
        0,
        0,
        0,
    )
    assert (await count(ctx, Workspace), await count(ctx, Team), await count(ctx, Round)) == (
        1,
        1,
        1,
    )
    async with ctx.sessions() as session:
        workspace = await session.get(Workspace, world.workspace.id)
        assert workspace is not None and workspace.installation is None
    [event] = await audit(ctx, "app_uninstalled")
    assert (event.actor_label, event.workspace_id) == ("playground platform", world.workspace.id)
    assert not await platform_uninstalled(ctx, "playground", "T9999")
    assert not await platform_uninstalled(ctx, "slack", "T0001")


# --- the directory -----------------------------------------------------------------------------


async def test_people_on_lists_the_platforms_people_as_plain_data(world: World) -> None:
    ctx = world.ctx
    await build_other_platform(ctx)
    entries = await people_on(ctx, "playground")
    assert all(isinstance(e, PersonEntry) for e in entries)
    assert {e.workspace for e in entries} == {"T0001"}
    by_id = {e.user_id: e for e in entries}
    assert set(by_id) == {f"u{i}" for i in range(6)} | {"boss", "root", "stranger"}
    assert by_id["boss"] == PersonEntry(
        platform="playground",
        workspace="T0001",
        workspace_name="Acme",
        user_id="boss",
        display_name="Boss",
        is_admin=False,
        teams=(TeamRole("Platform", MembershipRole.MANAGER),),
    )
    assert by_id["u0"].teams == (TeamRole("Platform", MembershipRole.MEMBER),)
    assert by_id["root"].is_admin and by_id["root"].teams == ()
    assert [e.display_name for e in entries] == sorted(e.display_name for e in entries)
    assert [e.user_id for e in await people_on(ctx, "slack")] == ["UOTHER"]


async def test_person_on_finds_one_person_or_none(world: World) -> None:
    ctx = world.ctx
    await build_other_platform(ctx)
    found = await person_on(ctx, "playground", "T0001", "u0")
    assert found is not None and (found.display_name, found.is_admin) == ("U0", False)
    assert await person_on(ctx, "playground", "T0001", "nobody") is None
    assert await person_on(ctx, "playground", "T0002", "UOTHER") is None  # a Slack workspace
    assert await person_on(ctx, "slack", "T0001", "u0") is None


async def build_other_platform(ctx: Context) -> None:
    await installed_by(ctx, "slack", "T0002", name="Beta", installer_user_id="UOTHER")
    assert await count(ctx, Workspace) == 2
