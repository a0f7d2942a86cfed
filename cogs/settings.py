"""`/settings`: server managers see and change Consentry's per-server settings.

Changes go through GuildSettingsService (only overrides are stored) or, for score thresholds, the
raw ``policy.thresholds`` override the policy reads; each is audited as ``settings.changed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.policy import LIKENESS_OFF_KEY, MODELS_OFF_KEY
from bot.runtime.permissions import is_manager
from cogs._common import audit, refuse_audited, reply
from cogs._settings_format import (
    SETUP_REMINDER,
    THRESHOLDS_KEY,
    jsonable,
    levels_of,
    levels_text,
    parse_ladder,
    plan_thresholds,
    score_signals,
    show_text,
)

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot

ExemptChannel = (
    discord.TextChannel
    | discord.ForumChannel
    | discord.VoiceChannel
    | discord.StageChannel
    | discord.Thread
)
Score = app_commands.Range[float, 0.0, 1.0]
ON = "True: on; False: off"


class Settings(commands.Cog):
    """Show and change this server's settings."""

    group = app_commands.Group(
        name="settings",
        description="Consentry's settings for this server",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )
    exempt_channel = app_commands.Group(
        name="exempt-channel", description="Channels Consentry never scans", parent=group
    )
    exempt_role = app_commands.Group(
        name="exempt-role", description="Roles whose members Consentry never scans", parent=group
    )

    def __init__(self, bot: ConsentryBot) -> None:
        self.bot = bot

    @group.command(name="show", description="Every setting, the policy here, and what is missing")
    async def show(self, interaction: discord.Interaction) -> None:
        """Settings with their defaults marked, this server's policy, evidence, missing setup."""
        if (guild := await self._guild(interaction)) is not None:
            await reply(interaction, await show_text(self.bot, guild.id))

    @group.command(name="alert-channel", description="Where moderators get Consentry's alerts")
    @app_commands.describe(channel="A channel only moderators can see")
    async def alert_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        """Choose the alert channel (this completes setup), if the bot can post there."""
        guild = await self._guild(interaction)
        if guild is None:
            return
        allowed = channel.permissions_for(guild.me) if guild.me else discord.Permissions.none()
        if not (allowed.send_messages and allowed.embed_links):
            await self._answer(
                interaction,
                f"I cannot post alerts in {channel.mention}: give me View Channel, Send Messages "
                "and Embed Links there, then run this again.",
            )
            return
        await self._set(interaction, "alert_channel_id", channel.id)
        await self._answer(interaction, f"Alerts now go to {channel.mention}.")

    @group.command(name="moderator-role", description="A role whose members may review cases")
    @app_commands.describe(role="Leave empty to unset: then only Manage Messages counts")
    async def moderator_role(
        self, interaction: discord.Interaction, role: discord.Role | None = None
    ) -> None:
        """Set or unset the moderator role."""
        if await self._guild(interaction) is None:
            return
        if role is not None and role.is_default():
            await self._answer(interaction, "@everyone cannot be the moderator role.")
            return
        await self._set(interaction, "moderator_role_id", role.id if role else None)
        text = (
            f"Members with {role.mention} may now review cases and manage the blocklist."
            if role
            else "Moderator role unset: only members with Manage Messages are moderators."
        )
        await self._answer(interaction, text)

    @exempt_channel.command(name="add", description="Never scan this channel (or its threads)")
    @app_commands.describe(channel="A channel, forum or thread")
    async def exempt_channel_add(
        self, interaction: discord.Interaction, channel: ExemptChannel
    ) -> None:
        """Stop scanning a channel."""
        done = f"{channel.mention} (and its threads) is no longer scanned."
        await self._toggle(interaction, "exempt_channel_ids", channel.id, done, add=True)

    @exempt_channel.command(name="remove", description="Scan this channel again")
    @app_commands.describe(channel="An exempt channel, forum or thread")
    async def exempt_channel_remove(
        self, interaction: discord.Interaction, channel: ExemptChannel
    ) -> None:
        """Scan a channel again."""
        done = f"{channel.mention} is scanned again."
        await self._toggle(interaction, "exempt_channel_ids", channel.id, done, add=False)

    @exempt_role.command(name="add", description="Never scan posts by members with this role")
    @app_commands.describe(role="Members with this role are trusted not to need scanning")
    async def exempt_role_add(self, interaction: discord.Interaction, role: discord.Role) -> None:
        """Stop scanning a role's members."""
        if role.is_default():  # would switch Consentry off for the whole server
            if await self._guild(interaction) is not None:
                await self._answer(interaction, "Exempting @everyone would stop all scanning.")
            return
        done = f"Posts by members with {role.mention} are no longer scanned."
        await self._toggle(interaction, "exempt_role_ids", role.id, done, add=True)

    @exempt_role.command(name="remove", description="Scan this role's members again")
    @app_commands.describe(role="An exempt role")
    async def exempt_role_remove(
        self, interaction: discord.Interaction, role: discord.Role
    ) -> None:
        """Scan a role's members again."""
        done = f"Posts by members with {role.mention} are scanned again."
        await self._toggle(interaction, "exempt_role_ids", role.id, done, add=False)

    @group.command(name="retention", description="Days encrypted evidence is kept")
    @app_commands.describe(days="1 to 3650; applies to cases opened from now on")
    async def retention(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 3650]
    ) -> None:
        """Set how long evidence of new cases is kept."""
        if await self._guild(interaction) is None:
            return
        if not 1 <= days <= 3650:  # Discord enforces the range; a replayed request might not
            await self._answer(interaction, "Retention is 1 to 3650 days.")
            return
        await self._set(interaction, "retention_days", days)
        await self._answer(interaction, f"Evidence of new cases is kept for {days} days.")

    @group.command(name="dry-run", description="Alert only: never delete or punish")
    @app_commands.describe(on=ON)
    async def dry_run(self, interaction: discord.Interaction, on: bool) -> None:
        """Turn dry run on or off."""
        await self._switch(interaction, "dry_run", on, "Dry run")

    @group.command(name="scan-bots", description="Scan media posted by other bots")
    @app_commands.describe(on=ON)
    async def scan_bots(self, interaction: discord.Interaction, on: bool) -> None:
        """Scan other bots' posts, or not."""
        await self._switch(interaction, "scan_bots", on, "Scanning other bots' media")

    @group.command(name="scan-webhooks", description="Scan media posted through webhooks")
    @app_commands.describe(on=ON)
    async def scan_webhooks(self, interaction: discord.Interaction, on: bool) -> None:
        """Scan webhook posts (bridges, feeds), or not."""
        await self._switch(interaction, "scan_webhooks", on, "Scanning webhook posts")

    @group.command(name="alert-unscannable", description="Alert about media that can't be scanned")
    @app_commands.describe(on=ON)
    async def alert_unscannable(self, interaction: discord.Interaction, on: bool) -> None:
        """Alert moderators about corrupt, unsupported or oversized media, or not."""
        await self._switch(interaction, "alert_unscannable", on, "Alerts about unscannable media")

    @group.command(name="ladder", description="What confirmed cases do to their author")
    @app_commands.describe(steps='e.g. "timeout:60, kick, ban" (one per case; "none" clears)')
    async def ladder(self, interaction: discord.Interaction, steps: str) -> None:
        """Set the action ladder after validating every step."""
        if await self._guild(interaction) is None:
            return
        try:
            ladder = parse_ladder(steps)
        except ValueError as exc:
            await self._answer(interaction, f"Ladder not changed: {exc}.")
            return
        await self._set(interaction, "action_ladder", ladder)
        text = (
            "Ladder: " + " → ".join(ladder) + ". The first confirmed case of an author gets the "
            "first step, the second the next; the last step repeats."
            if ladder
            else "Ladder cleared: confirmed cases take no action against their author."
        )
        await self._answer(interaction, text)

    @group.command(name="threshold", description="Move a model score's flag/quarantine levels")
    @app_commands.describe(
        signal="<model>.<label>, e.g. redness.red",
        flag="Flag for review from this score (0 to 1)",
        quarantine="Remove and alert from this score (0 to 1)",
    )
    async def threshold(
        self,
        interaction: discord.Interaction,
        signal: app_commands.Range[str, 1, 100],
        flag: Score | None = None,
        quarantine: Score | None = None,
    ) -> None:
        """Set this server's thresholds for one score; with neither level, back to the defaults."""
        guild = await self._guild(interaction)
        if guild is None:
            return
        engine = self.bot.engine
        known = score_signals(engine.manifests)
        if signal not in known:
            listed = ", ".join(known) if known else "none: this instance runs no models"
            await self._answer(
                interaction, f"Unknown signal `{signal}`. Scores this instance has: {listed}."
            )
            return
        overrides = await engine.storage.settings.get_overrides(guild.id)
        try:
            thresholds, levels = plan_thresholds(engine.policy, overrides, signal, flag, quarantine)
        except ValueError as exc:  # PolicyError included
            await self._answer(interaction, f"Thresholds not changed: {exc}.")
            return
        if thresholds:
            await engine.storage.settings.set_override(guild.id, THRESHOLDS_KEY, thresholds)
        else:
            await engine.storage.settings.clear_override(guild.id, THRESHOLDS_KEY)
        await self._audit_change(interaction, THRESHOLDS_KEY, thresholds)
        defaults = levels_text(levels_of(engine.policy, signal))
        await self._answer(
            interaction,
            f"{signal} in this server: {levels_text(levels)} (instance default: {defaults}).",
        )

    @threshold.autocomplete("signal")
    async def _signals(
        self, interaction: discord.Interaction, typed: str
    ) -> list[app_commands.Choice[str]]:
        signals = score_signals(self.bot.engine.manifests)
        return [app_commands.Choice(name=s, value=s) for s in signals if typed in s][:25]

    @group.command(name="model", description="Use or ignore one model's scores in this server")
    @app_commands.describe(name="A model this instance runs", on=ON)
    async def model(self, interaction: discord.Interaction, name: str, on: bool) -> None:
        """Switch one model's score rules on or off here (e.g. open_nsfw or NudeNet for
        explicit content); the model keeps running for other servers and the blocklist."""
        guild = await self._guild(interaction)
        if guild is None:
            return
        storage, known = self.bot.engine.storage, [m.name for m in self.bot.engine.manifests]
        if name not in known:
            listed = ", ".join(known) or "none: this instance runs no models"
            await self._answer(interaction, f"Unknown model `{name}`. Models here: {listed}.")
            return
        current = (await storage.settings.get_overrides(guild.id)).get(MODELS_OFF_KEY) or []
        off = sorted(set(current) - {name} if on else set(current) | {name})
        if off:
            await storage.settings.set_override(guild.id, MODELS_OFF_KEY, off)
        else:
            await storage.settings.clear_override(guild.id, MODELS_OFF_KEY)
        await self._audit_change(interaction, MODELS_OFF_KEY, off)
        state = "used" if on else "ignored: no rule acts on them (the blocklist still does)"
        await self._answer(interaction, f"{name} scores in this server: {state}.")

    @group.command(
        name="likeness", description="Match explicit media against members who protect themselves"
    )
    @app_commands.describe(on=ON)
    async def likeness(self, interaction: discord.Interaction, on: bool) -> None:
        """Turn likeness protection on or off in this server (enrolments stay until withdrawn
        or removed; while off, they match nothing here)."""
        guild = await self._guild(interaction)
        if guild is None:
            return
        settings = self.bot.engine.storage.settings
        if on:
            await settings.clear_override(guild.id, LIKENESS_OFF_KEY)
        else:
            await settings.set_override(guild.id, LIKENESS_OFF_KEY, True)
        await self._audit_change(interaction, LIKENESS_OFF_KEY, not on)
        state = (
            "on: explicit media showing a protected member is removed"
            if on
            else "off: protected members' faces match nothing here (their enrolments stay)"
        )
        await self._answer(interaction, f"Likeness protection in this server: {state}.")

    @model.autocomplete("name")
    async def _models(
        self, interaction: discord.Interaction, typed: str
    ) -> list[app_commands.Choice[str]]:
        names = [m.name for m in self.bot.engine.manifests]
        return [app_commands.Choice(name=n, value=n) for n in names if typed in n][:25]

    async def _guild(self, interaction: discord.Interaction) -> discord.Guild | None:
        # Server admins can open the command to anyone: the permission is checked again here.
        member = interaction.user
        if isinstance(member, discord.Member) and is_manager(member):
            return member.guild
        await refuse_audited(
            self.bot,
            interaction,
            "You need the Manage Server permission to change Consentry's settings.",
        )
        return None

    async def _set(self, interaction: discord.Interaction, key: str, value: Any) -> None:
        assert interaction.guild_id is not None  # checked by _guild
        await self.bot.guild_settings.set(interaction.guild_id, key, value)
        await self._audit_change(interaction, key, value)

    async def _audit_change(self, interaction: discord.Interaction, key: str, value: Any) -> None:
        details = {"key": key, "value": jsonable(value)}
        await audit(self.bot, interaction, "settings.changed", f"setting {key}", details)

    async def _answer(self, interaction: discord.Interaction, text: str) -> None:
        # While setup is incomplete every answer says so: the missing alert channel is the one
        # thing that keeps Consentry from acting on model scores.
        assert interaction.guild_id is not None
        settings = await self.bot.guild_settings.get(interaction.guild_id)
        await reply(interaction, text if settings.setup_complete else f"{text}\n{SETUP_REMINDER}")

    async def _switch(
        self, interaction: discord.Interaction, key: str, on: bool, what: str
    ) -> None:
        if await self._guild(interaction) is None:
            return
        await self._set(interaction, key, on)
        await self._answer(interaction, f"{what}: {'on' if on else 'off'}.")

    async def _toggle(
        self, interaction: discord.Interaction, key: str, item: int, done: str, *, add: bool
    ) -> None:
        guild = await self._guild(interaction)
        if guild is None:
            return
        current: frozenset[int] = getattr(await self.bot.guild_settings.get(guild.id), key)
        if (item in current) == add:
            state = "already exempt" if add else "not exempt"
            await self._answer(
                interaction,
                f"<{'#' if 'channel' in key else '@&'}{item}> is {state}: nothing changed.",
            )
            return
        await self._set(interaction, key, current | {item} if add else current - {item})
        await self._answer(interaction, done)


async def setup(bot: ConsentryBot) -> None:
    """Register the ``/settings`` commands."""
    await bot.add_cog(Settings(bot))
