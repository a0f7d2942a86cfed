"""`/blocklist`: moderators manage this server's own hash blocklist from Discord.

Entries added here are scoped to the server (instance-wide entries belong to the operator's CLI).
Files are hashed with the same core functions as ``consentry blocklist`` and exchanged in the
same CSV/JSON formats, so an export from either side imports into the other. Import also reads
vPDQ video hash lists (``bot.core.blocklist_io``), as this server's PDQ entries.
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import blocklist_io
from bot.core.blocklist import NewEntry
from bot.core.fingerprint import fingerprint
from bot.core.media import UnscannableMedia
from bot.runtime.permissions import is_moderator
from bot.storage import Opinion
from cogs._blocklist_format import (
    PAGE_SIZE,
    ExportFormat,
    ImportFormat,
    ReviewOpinion,
    added_text,
    counts_text,
    export_bytes,
    import_text,
    list_text,
    server_entries,
)
from cogs._common import actor, audit, download, name_of, refuse_audited, reply

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot

SOURCE = "discord"
"""The ``source`` of entries added with ``/blocklist add`` (the CLI's are ``cli``)."""


class Blocklist(commands.Cog):
    """Add, remove, list, import and export this server's blocklist entries."""

    group = app_commands.Group(
        name="blocklist",
        description="This server's hash blocklist",
        default_permissions=discord.Permissions(manage_messages=True),
        guild_only=True,
    )

    def __init__(self, bot: ConsentryBot) -> None:
        self.bot = bot

    @group.command(name="add", description="Hash a file and block copies of it in this server")
    @app_commands.describe(file="The image or GIF to block", reason="Why (kept with the entries)")
    async def add(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment,
        reason: app_commands.Range[str, 1, 500] = "",
    ) -> None:
        """Fingerprint ``file`` and add its hashes as entries of this server."""
        member = await self._moderator(interaction)
        if member is None or not await self._fits(interaction, file):
            return
        config = self.bot.engine.config
        # Downloading and hashing a large animation can outlast Discord's 3-second window.
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await download(interaction, file)
        if data is None:
            return
        try:
            if len(data) > config.limits.max_bytes:  # the declared size is the uploader's word
                raise UnscannableMedia(
                    "too_large", f"over the {config.limits.max_bytes:,}-byte limit"
                )
            found = await self.bot.engine.executor.run(
                fingerprint, data, config.limits, config.matching.pdq_min_quality
            )
        except UnscannableMedia as exc:
            await reply(interaction, f"{name_of(file)} was not added: {exc.message}.")
            return
        entries = [
            NewEntry(algorithm, value, member.guild.id, SOURCE, reason, actor(member))
            for algorithm, value in found.entries
        ]
        result = await self.bot.engine.storage.blocklist.add(entries)
        if result.added:
            await self.bot.engine.refresh_blocklist()
        await audit(
            self.bot,
            interaction,
            "blocklist.add",
            f"sha256 {found.sha256}",
            {
                "filename": file.filename,
                "ids": [e.id for e in result.added],
                "duplicates": len(result.duplicates),
                "reason": reason,
            },
        )
        await reply(interaction, added_text(file, result, found.notes, set(found.derived)))

    @group.command(name="remove", description="Remove one of this server's entries")
    @app_commands.describe(entry_id="The entry's id, as /blocklist list shows it")
    async def remove(
        self, interaction: discord.Interaction, entry_id: app_commands.Range[int, 1]
    ) -> None:
        """Remove an entry of this server; instance-wide and other servers' entries are refused."""
        member = await self._moderator(interaction)
        if member is None:
            return
        storage = self.bot.engine.storage
        entry = await storage.blocklist.get(entry_id)
        if entry is not None and entry.guild_id is None:
            await reply(
                interaction,
                f"Entry #{entry_id} is instance-wide: it applies to every server on this Consentry "
                "instance, so its operator manages it with the CLI "
                f"(`consentry blocklist remove {entry_id}`).",
            )
            return
        # Another server's entry reads as absent: its existence is that server's business.
        if entry is None or entry.guild_id != member.guild.id:
            await reply(interaction, f"This server's blocklist has no entry #{entry_id}.")
            return
        removed = await storage.blocklist.remove(entry_id)
        if removed is None:  # removed by someone else since the lookup
            await reply(interaction, f"This server's blocklist has no entry #{entry_id}.")
            return
        await self.bot.engine.refresh_blocklist()
        await audit(
            self.bot,
            interaction,
            "blocklist.remove",
            f"entry {entry_id}",
            {"algorithm": removed.algorithm.value, "hash": removed.value, "allow": removed.allow},
        )
        kind = "allow-list" if removed.allow else "blocklist"
        await reply(
            interaction,
            f"Removed {kind} entry #{entry_id} ({removed.algorithm.value} `{removed.value}`).",
        )

    @group.command(name="list", description=f"This server's entries, {PAGE_SIZE} per page")
    @app_commands.describe(page="Which page (1 is the oldest entries)")
    async def list_command(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1] = 1
    ) -> None:
        """Show one page of this server's entries, oldest first."""
        member = await self._moderator(interaction)
        if member is None:
            return
        entries = await server_entries(self.bot.engine.storage, member.guild.id)
        await reply(interaction, list_text(entries, page))

    @group.command(name="import", description="Add (and withdraw) entries from a hash list")
    @app_commands.describe(
        file="A hash list: Consentry CSV/JSON, StopNCII records, ThreatExchange rows, an HMA "
        "bank, a plain hash list or a vPDQ video list",
        fmt="The file's format (auto recognises all but a plain list of 64-digit hashes)",
    )
    @app_commands.rename(fmt="format")
    async def import_command(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment,
        fmt: ImportFormat = "auto",
    ) -> None:
        """Import every row as this server's entries, or nothing if a row is invalid."""
        member = await self._moderator(interaction)
        if member is None or not await self._fits(interaction, file):
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await download(interaction, file)
        if data is None:
            return
        try:
            text = data.decode("utf-8-sig")  # tolerate the byte-order mark spreadsheets write
        except UnicodeDecodeError:
            await reply(interaction, f"{name_of(file)} is not UTF-8 text: nothing imported.")
            return
        chosen = blocklist_io.detect_format(text) if fmt == "auto" else fmt
        guild_id = member.guild.id
        parsed = await self.bot.engine.executor.run(
            blocklist_io.parse,
            text,
            chosen,
            default_source=f"import:{file.filename}",
            added_by=actor(member),
            vpdq_import=blocklist_io.VpdqImport(
                video=file.filename,
                guild_id=guild_id,
                min_quality=self.bot.engine.config.matching.pdq_min_quality,
            ),
            guild_id=guild_id,
        )
        if parsed.errors:
            await reply(interaction, import_text(file, parsed, None, 0))
            return
        # Whatever scope a row names, a server's moderators may only change their own server.
        rescoped = sum(1 for e in parsed.entries if e.guild_id != guild_id)
        entries = [replace(e, guild_id=guild_id) for e in parsed.entries]
        removals = [replace(r, guild_id=guild_id) for r in parsed.removals]
        result = await self.bot.engine.storage.blocklist.apply(entries, removals)
        if result.added or result.removed:
            await self.bot.engine.refresh_blocklist()
        await audit(
            self.bot,
            interaction,
            "blocklist.import",
            f"file {file.filename}",
            {
                "format": chosen,
                "added": result.added,
                "duplicates": len(result.duplicates),
                "withdrawn": len(result.removed),
                "skipped": len(parsed.skipped),
                "rescoped": rescoped,
            },
        )
        parsed = replace(parsed, entries=entries, removals=removals)
        await reply(interaction, import_text(file, parsed, result, rescoped))

    @group.command(name="export", description="Download this server's entries as a file")
    @app_commands.describe(fmt="CSV (spreadsheets), JSON, or a hash-sharing format")
    @app_commands.rename(fmt="format")
    async def export(self, interaction: discord.Interaction, fmt: ExportFormat = "csv") -> None:
        """Attach this server's entries in the CLI's export format."""
        member = await self._moderator(interaction)
        if member is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        entries = await server_entries(self.bot.engine.storage, member.guild.id)
        data = export_bytes(entries, fmt)
        if len(data) > interaction.filesize_limit:
            await reply(
                interaction,
                f"The export is {len(data):,} bytes, more than this server may upload "
                f"({interaction.filesize_limit:,}): ask the operator for "
                "`consentry blocklist export`.",
            )
            return
        await audit(
            self.bot, interaction, "blocklist.export", "server blocklist", {"entries": len(entries)}
        )
        filename = f"consentry-blocklist-{member.guild.id}.{fmt}"
        await reply(
            interaction,
            f"This server's blocklist: {len(entries)} entries ({fmt.upper()}). "
            "`/blocklist import` or `consentry blocklist import` read it back.",
            file=discord.File(io.BytesIO(data), filename=filename),
        )

    @group.command(name="counts", description="Entry counts for this server and the instance")
    async def counts(self, interaction: discord.Interaction) -> None:
        """This server's entries by algorithm, the instance's totals and the live index size."""
        member = await self._moderator(interaction)
        if member is None:
            return
        engine = self.bot.engine
        entries = await server_entries(self.bot.engine.storage, member.guild.id)
        totals = await engine.storage.blocklist.count()
        await reply(interaction, counts_text(entries, totals, len(engine.matcher.snapshot)))

    @group.command(name="review", description="Confirm or dispute an entry from a list")
    @app_commands.describe(
        entry="The entry's number (alerts name it)",
        opinion="confirm: it removes here (lifting a hold); dispute: it only flags here",
        note="Why (kept, and shown to the list's publisher with the feedback)",
    )
    async def review(
        self,
        interaction: discord.Interaction,
        entry: int,
        opinion: ReviewOpinion,
        note: app_commands.Range[str, 0, 300] = "",
    ) -> None:
        """Record a moderator's opinion of an entry that applies here."""
        member = await self._moderator(interaction)
        if member is None:
            return
        storage = self.bot.engine.storage
        found = await storage.blocklist.get(entry)
        if found is None or (
            found.guild_id not in (None, member.guild.id)
            and not (await self.bot.guild_settings.get(member.guild.id)).share_confirmed
        ):
            await reply(interaction, f"No entry #{entry} applies to this server.")
            return
        state: Opinion = "confirmed" if opinion == "confirm" else "disputed"
        await storage.reviews.review(found, member.guild.id, state, actor=actor(member), note=note)
        if self.bot.watcher is not None:  # counts here at once, not after the cached read
            self.bot.watcher.safeguards.forget(found.id)
        effect = (
            "it removes matching media here again"
            if state == "confirmed"
            else "it now only flags here, for a moderator to look"
        )
        await reply(
            interaction,
            f"Entry #{found.id} ({found.algorithm.value}, source {found.source}) {state} here: "
            f"{effect}. The feedback is kept for its source.",
        )

    async def _moderator(self, interaction: discord.Interaction) -> discord.Member | None:
        # Server admins can open the command to anyone: the permission is checked again here.
        member = interaction.user
        if interaction.guild is not None and isinstance(member, discord.Member):
            settings = await self.bot.guild_settings.get(interaction.guild.id)
            if is_moderator(member, settings):
                return member
        await refuse_audited(
            self.bot,
            interaction,
            "Only moderators (Manage Messages, or the server's moderator role) can manage "
            "Consentry's blocklist.",
        )
        return None

    async def _fits(self, interaction: discord.Interaction, file: discord.Attachment) -> bool:
        limit = self.bot.engine.config.limits.max_bytes
        if file.size <= limit:
            return True
        await reply(
            interaction,
            f"{name_of(file)} is {file.size:,} bytes, over the {limit:,}-byte limit: not read.",
        )
        return False


async def setup(bot: ConsentryBot) -> None:
    """Register the ``/blocklist`` commands."""
    await bot.add_cog(Blocklist(bot))
