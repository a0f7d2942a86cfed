"""Discord's permission computation, checked on the sandbox's world directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.sandbox import DemoWorld, Permissions, Sandbox
from bot.sandbox.permissions import ALL

P = Permissions


def test_overwrites_apply_everyone_then_roles_then_member(
    sandbox: Sandbox, world: DemoWorld
) -> None:
    member = world.member_ids[0]
    assert sandbox.permissions_for(world.mod_alerts_id, member) == 0  # @everyone denied view
    assert sandbox.permissions_for(world.mod_alerts_id, world.moderator_id) & P.VIEW_CHANNEL
    sandbox.set_permission_overwrite(world.mod_alerts_id, member, allow=int(P.VIEW_CHANNEL))
    assert sandbox.permissions_for(world.mod_alerts_id, member) & P.VIEW_CHANNEL
    sandbox.set_permission_overwrite(
        world.mod_alerts_id,
        world.moderator_role_id,
        deny=int(P.SEND_MESSAGES),
        allow=int(P.VIEW_CHANNEL),
    )
    granted = sandbox.permissions_for(world.mod_alerts_id, world.moderator_id)
    assert granted & P.VIEW_CHANNEL and not granted & P.SEND_MESSAGES
    assert not granted & P.EMBED_LINKS  # implicitly gone with SEND_MESSAGES


def test_owner_and_administrator_get_everything(sandbox: Sandbox, world: DemoWorld) -> None:
    assert sandbox.permissions_for(world.mod_alerts_id, world.owner_id) == ALL
    admin_role = sandbox.create_role(world.guild_id, "Admin", permissions=int(P.ADMINISTRATOR))
    sandbox.set_member_roles(world.guild_id, world.member_ids[1], [admin_role])
    assert sandbox.permissions_for(world.mod_alerts_id, world.member_ids[1]) == ALL


def test_threads_inherit_the_parent_and_timeouts_leave_reading(
    sandbox: Sandbox, world: DemoWorld
) -> None:
    post = world.forum_post_id
    sandbox.set_permission_overwrite(
        world.forum_id, world.guild_id, deny=int(P.SEND_MESSAGES_IN_THREADS)
    )
    assert not sandbox.permissions_for(post, world.member_ids[0]) & P.SEND_MESSAGES_IN_THREADS
    sandbox.timeout_member(
        world.guild_id, world.member_ids[2], datetime.now(UTC) + timedelta(minutes=5)
    )
    timed_out = sandbox.permissions_for(world.general_id, world.member_ids[2])
    assert timed_out == int(P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY)
