"""A small, realistic demo server: "Consentry Demo" (used by ``make demo`` and end-to-end tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.sandbox.permissions import P

if TYPE_CHECKING:
    from bot.sandbox.server import Sandbox


@dataclass(frozen=True)
class DemoWorld:
    """Ids of everything :func:`demo_world` created."""

    guild_id: int
    owner_id: int
    moderator_id: int
    member_ids: tuple[int, ...]
    other_bot_id: int
    moderator_role_id: int
    general_id: int
    art_id: int
    mod_alerts_id: int
    forum_id: int
    nsfw_id: int
    forum_post_id: int


MODERATOR_PERMISSIONS = int(
    P.KICK_MEMBERS
    | P.BAN_MEMBERS
    | P.MANAGE_MESSAGES
    | P.MODERATE_MEMBERS
    | P.VIEW_AUDIT_LOG
    | P.MANAGE_THREADS
    | P.MANAGE_NICKNAMES
)


def demo_world(sandbox: Sandbox) -> DemoWorld:
    """Build "Consentry Demo": #general, #art, #mod-alerts (moderators only), a forum with a
    post, an age-restricted channel, an owner, a moderator, a few members and another bot."""
    owner_id = sandbox.create_user("mira", global_name="Mira (owner)")
    guild_id = sandbox.create_guild("Consentry Demo", owner_id=owner_id, features=["COMMUNITY"])
    moderator_role_id = sandbox.create_role(
        guild_id, "Moderator", permissions=MODERATOR_PERMISSIONS, color=0x3498DB, hoist=True
    )
    general_id = sandbox.system_channel_id(guild_id)
    assert general_id is not None  # create_guild makes #general the system channel
    art_id = sandbox.create_text_channel(guild_id, "art", topic="Share your drawings and photos")
    mod_alerts_id = sandbox.create_text_channel(guild_id, "mod-alerts", topic="Consentry alerts")
    sandbox.set_permission_overwrite(mod_alerts_id, guild_id, deny=int(P.VIEW_CHANNEL))
    sandbox.set_permission_overwrite(mod_alerts_id, moderator_role_id, allow=int(P.VIEW_CHANNEL))
    sandbox.set_permission_overwrite(
        mod_alerts_id, sandbox.bot_role_id(guild_id), allow=int(P.VIEW_CHANNEL)
    )
    forum_id = sandbox.create_forum_channel(guild_id, "showcase", tags=["photo", "drawing"])
    nsfw_id = sandbox.create_text_channel(guild_id, "after-dark", nsfw=True, topic="18+ only")
    moderator_id = sandbox.create_member(
        guild_id, "sam", global_name="Sam (mod)", roles=[moderator_role_id]
    )
    member_ids = tuple(
        sandbox.create_member(guild_id, name, global_name=name.title())
        for name in ("alex", "jordan", "riley", "casey")
    )
    other_bot_id = sandbox.create_member(guild_id, "helper-bot", bot=True)
    _, forum_post_id = sandbox.create_forum_post(
        forum_id, member_ids[0], "My first watercolour", "Feedback welcome!"
    )
    return DemoWorld(
        guild_id=guild_id,
        owner_id=owner_id,
        moderator_id=moderator_id,
        member_ids=member_ids,
        other_bot_id=other_bot_id,
        moderator_role_id=moderator_role_id,
        general_id=general_id,
        art_id=art_id,
        mod_alerts_id=mod_alerts_id,
        forum_id=forum_id,
        nsfw_id=nsfw_id,
        forum_post_id=forum_post_id,
    )
