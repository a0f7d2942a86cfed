"""`/protect` (a member's own protection) and `/protected` (what moderators see of it).

Only a member can enrol, and only themself: every `/protect` command acts on the caller. The
work is done by ``bot.protection``; this cog downloads the attachments, calls it and replies
privately. A member who leaves the server stops being protected there.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import own_hashes
from bot.core.faces.enrolment import MAX_FILE_BYTES, EnrolmentError
from bot.core.policy import LIKENESS_OFF_KEY
from bot.protection import EnrolmentCooldown, ProtectionUnavailable
from bot.runtime.permissions import is_manager, is_moderator
from cogs._common import actor, download, refuse_audited, reply
from cogs._protect_format import (
    listing_text,
    outcome_text,
    own_counts_text,
    own_listing_text,
    own_media_help,
    registered_text,
    status_text,
)

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot

log = logging.getLogger(__name__)

NOTIFY = "Get a private message when media showing you is removed (default: no)"


class Protect(commands.Cog):
    """Members protect themselves; moderators see who is protected."""

    protect = app_commands.Group(
        name="protect",
        description="Protect yourself: explicit media showing your face is removed",
        guild_only=True,
    )
    protected = app_commands.Group(
        name="protected",
        description="Members protected in this server",
        default_permissions=discord.Permissions(manage_messages=True),
        guild_only=True,
    )

    media = app_commands.Group(
        name="media",
        description="Media of you that must never be posted here, registered by its hashes",
        parent=protect,
    )

    def __init__(self, bot: ConsentryBot) -> None:
        self.bot = bot

    @protect.command(name="me", description="Enrol with 1 to 5 photos of your own face")
    @app_commands.describe(
        photo1="A clear photo of your face, alone",
        photo2="Another photo of you (optional)",
        photo3="Another photo of you (optional)",
        photo4="Another photo of you (optional)",
        photo5="Another photo of you (optional)",
        notify=NOTIFY,
    )
    async def me(
        self,
        interaction: discord.Interaction,
        photo1: discord.Attachment,
        photo2: discord.Attachment | None = None,
        photo3: discord.Attachment | None = None,
        photo4: discord.Attachment | None = None,
        photo5: discord.Attachment | None = None,
        notify: bool = False,
    ) -> None:
        """Describe the caller's photos in memory (never kept) and protect them here."""
        guild_id = interaction.guild_id
        if guild_id is None or not await self._available(interaction):
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        photos = []
        for file in (p for p in (photo1, photo2, photo3, photo4, photo5) if p is not None):
            data = await self._download(interaction, file, self.bot.engine.config.limits.max_bytes)
            if data is None:
                return
            photos.append((file.filename, data))
        try:
            outcome = await self.bot.protection.enrol_photos(
                guild_id, interaction.user.id, photos, notify=notify
            )
        except (EnrolmentError, EnrolmentCooldown, ProtectionUnavailable) as exc:
            await reply(interaction, str(exc))
            return
        await reply(interaction, outcome_text(outcome))

    @protect.command(
        name="upload", description="Enrol with a file from `consentry likeness enroll`"
    )
    @app_commands.describe(file="The enrolment file made on your own machine", notify=NOTIFY)
    async def upload(
        self, interaction: discord.Interaction, file: discord.Attachment, notify: bool = False
    ) -> None:
        """Enrol from descriptors computed offline, so the photos never left the member."""
        guild_id = interaction.guild_id
        if guild_id is None or not await self._available(interaction):
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await self._download(interaction, file, MAX_FILE_BYTES)
        if data is None:
            return
        try:
            outcome = await self.bot.protection.enrol_file(
                guild_id, interaction.user.id, data, notify=notify
            )
        except (EnrolmentError, EnrolmentCooldown, ProtectionUnavailable) as exc:
            await reply(interaction, f"{file.filename} was not used: {exc}")
            return
        await reply(interaction, outcome_text(outcome))

    @protect.command(name="status", description="Whether you are protected here")
    async def status(self, interaction: discord.Interaction) -> None:
        """The caller's own enrolment: since when, how many faces, notices on or off."""
        if interaction.guild_id is None:
            return
        enrolment = await self.bot.protection.status(interaction.guild_id, interaction.user.id)
        await reply(interaction, status_text(enrolment, self.bot.protection.unavailable_reason))

    @protect.command(name="withdraw", description="Stop your protection and delete your data")
    async def withdraw(self, interaction: discord.Interaction) -> None:
        """Delete the caller's enrolment at once (audited, without the data)."""
        if interaction.guild_id is None:
            return
        removed = await self.bot.protection.withdraw(interaction.guild_id, interaction.user.id)
        await reply(
            interaction,
            "Withdrawn: your face data is deleted and you are no longer protected here."
            if removed
            else "You were not protected in this server: there was nothing to delete.",
        )

    @media.command(name="add", description="Upload the file `consentry hash` made of your media")
    @app_commands.describe(file="consentry-hashes.json, made on your own machine")
    async def media_add(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        """Register the caller's hashes as this server's entries: copies are removed here."""
        if interaction.guild_id is None:
            return
        data = await self._download(interaction, file, own_hashes.MAX_FILE_BYTES)
        if data is None:
            return
        try:
            items = own_hashes.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, own_hashes.OwnHashesError) as exc:
            await reply(interaction, f"Nothing registered: {exc}. {own_media_help()}")
            return
        hashes = [h for item in items for h in item.hashes]
        storage = self.bot.engine.storage
        fresh, known = await storage.own_media.register(
            interaction.guild_id, interaction.user.id, hashes
        )
        await self.bot.engine.refresh_blocklist()
        await reply(interaction, registered_text(len(items), fresh, known))

    @media.command(name="list", description="What you registered here (only you see this)")
    async def media_list(self, interaction: discord.Interaction) -> None:
        """The caller's own registrations: counts and the hashes, never anyone else's."""
        if interaction.guild_id is None:
            return
        entries = await self.bot.engine.storage.own_media.listing(
            interaction.guild_id, interaction.user.id
        )
        await reply(interaction, own_listing_text(entries))

    @media.command(name="withdraw", description="Take back every hash you registered here")
    async def media_withdraw(self, interaction: discord.Interaction) -> None:
        """Withdraw at once: the caller's entries stop matching now."""
        if interaction.guild_id is None:
            return
        count = await self.bot.engine.storage.own_media.withdraw(
            interaction.guild_id, interaction.user.id, actor=actor(interaction.user)
        )
        if count:
            await self.bot.engine.refresh_blocklist()
        await reply(
            interaction,
            f"Withdrawn: your {count} registered hashes no longer match here."
            if count
            else "You registered no media here: there was nothing to withdraw.",
        )

    @protected.command(name="list", description="Who is protected here, and since when")
    @app_commands.describe(page="Page number (20 members a page)")
    async def list_(self, interaction: discord.Interaction, page: int = 1) -> None:
        """Protected members and their enrolment dates: never their data."""
        member = interaction.user
        if not isinstance(member, discord.Member):
            return
        settings = await self.bot.guild_settings.get(member.guild.id)
        if not is_moderator(member, settings):
            await refuse_audited(
                self.bot, interaction, "You need Manage Messages to see who is protected."
            )
            return
        enrolments = await self.bot.protection.listing(member.guild.id)
        overrides = await self.bot.engine.storage.settings.get_overrides(member.guild.id)
        enabled = not overrides.get(LIKENESS_OFF_KEY, False)
        members, hashes = await self.bot.engine.storage.own_media.counts(member.guild.id)
        await reply(
            interaction, listing_text(enrolments, page, enabled) + own_counts_text(members, hashes)
        )

    @protected.command(name="remove", description="Remove a member's protection (for abuse)")
    @app_commands.describe(member="The protected member", reason="Why (kept in the audit log)")
    async def remove(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        reason: app_commands.Range[str, 1, 300],
    ) -> None:
        """A server manager removes an enrolment, e.g. someone enrolled with another's face."""
        caller = interaction.user
        if not isinstance(caller, discord.Member) or not is_manager(caller):
            await refuse_audited(
                self.bot, interaction, "You need Manage Server to remove a member's protection."
            )
            return
        removed = await self.bot.protection.remove(
            caller.guild.id, member.id, actor=actor(caller), reason=reason
        )
        await reply(
            interaction,
            f"Removed {member.mention}'s protection (audited)."
            if removed
            else f"{member.mention} is not protected here.",
        )

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """A member who leaves the server is no longer protected there (face or media)."""
        if await self.bot.protection.member_left(payload.guild_id, payload.user.id):
            log.info("member %s left guild %s: protection ended", payload.user.id, payload.guild_id)
        storage = self.bot.engine.storage
        if await storage.own_media.withdraw(payload.guild_id, payload.user.id, actor="consentry"):
            await self.bot.engine.refresh_blocklist()

    async def _available(self, interaction: discord.Interaction) -> bool:
        reason = self.bot.protection.unavailable_reason
        if reason is not None:
            await reply(interaction, reason)
            return False
        return True

    async def _download(
        self, interaction: discord.Interaction, file: discord.Attachment, limit: int
    ) -> bytes | None:
        if file.size > limit:
            await reply(interaction, f"{file.filename} is over the {limit:,}-byte limit.")
            return None
        data = await download(interaction, file)
        if data is not None and len(data) > limit:  # the declared size is the uploader's word
            await reply(interaction, f"{file.filename} is over the {limit:,}-byte limit.")
            return None
        return data


async def setup(bot: ConsentryBot) -> None:
    """Register ``/protect`` and ``/protected``."""
    await bot.add_cog(Protect(bot))
