"""`/cases`: moderators list, inspect and decide Consentry's cases from a slash command.

The same decisions as the alert's buttons (confirm, dismiss, restore) go through the same
:class:`~bot.runtime.review.Reviewer` methods, so a case decided either way ends up identical.
Every reply is ephemeral: cases name members and describe what they posted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.cases import CaseError
from bot.runtime.permissions import is_moderator
from bot.runtime.review import Answer, send_answer
from bot.storage import Case, CaseStatus
from cogs._case_format import PAGE_SIZE, case_embed, forget_text, list_text, verify_text
from cogs._common import actor, audit, refuse_audited, reply

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot

StatusChoice = Literal["open", "confirmed", "dismissed", "restored", "all"]
CaseId = app_commands.Range[int, 1]
Decide = Callable[[Case, discord.Member], Awaitable[str | Answer]]


class Cases(commands.Cog):
    """List, show and decide cases; notes, legal holds, data requests, audit log checks."""

    group = app_commands.Group(
        name="cases",
        description="Consentry's moderation cases in this server",
        default_permissions=discord.Permissions(manage_messages=True),
        guild_only=True,
    )

    def __init__(self, bot: ConsentryBot) -> None:
        self.bot = bot

    @group.command(name="list", description="This server's cases, newest first, 10 per page")
    @app_commands.describe(status="Which cases (default: open ones)", page="Page to show")
    async def list_cases(
        self,
        interaction: discord.Interaction,
        status: StatusChoice = "open",
        page: app_commands.Range[int, 1] = 1,
    ) -> None:
        """List one page of the server's cases with ``status`` (``all``: any status)."""
        member = await self._moderator(interaction)
        if member is None:
            return
        wanted = None if status == "all" else CaseStatus(status)
        store = self.bot.engine.storage.cases
        total = await store.count(member.guild.id, status=wanted)
        cases = await store.list(
            member.guild.id, status=wanted, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        await reply(interaction, list_text(cases, status, page, total))

    @group.command(name="show", description="One case: media, reasons, evidence and timeline")
    @app_commands.describe(case_id="The case's number, as /cases list shows it")
    async def show(self, interaction: discord.Interaction, case_id: CaseId) -> None:
        """Show a case of this server in an embed."""
        found = await self._moderator_case(interaction, case_id)
        if found is None:
            return
        _, case = found
        storage = self.bot.engine.storage
        evidence = await storage.evidence.for_case(case.id)
        events = await storage.cases.events(case.id)
        await interaction.response.send_message(
            embed=case_embed(case, evidence, events), ephemeral=True
        )

    @group.command(name="confirm", description="Confirm a case: block its media in this server")
    @app_commands.describe(case_id="The case's number")
    async def confirm(self, interaction: discord.Interaction, case_id: CaseId) -> None:
        """Confirm an open case, as the alert's Confirm button does (the action ladder applies)."""
        await self._decide(interaction, case_id, self.bot.review.confirm)

    @group.command(name="dismiss", description="Dismiss a case as a false positive")
    @app_commands.describe(case_id="The case's number")
    async def dismiss(self, interaction: discord.Interaction, case_id: CaseId) -> None:
        """Dismiss an open case and allow-list its media here, as the Dismiss button does."""
        await self._decide(interaction, case_id, self.bot.review.dismiss)

    @group.command(name="restore", description="Repost a case's media under its author's name")
    @app_commands.describe(case_id="The case's number")
    async def restore(self, interaction: discord.Interaction, case_id: CaseId) -> None:
        """Repost the kept original, as the Restore button does (open cases are dismissed first)."""
        await self._decide(interaction, case_id, self.bot.review.restore)

    @group.command(name="note", description="Add a note to a case's timeline")
    @app_commands.describe(case_id="The case's number", text="The note")
    async def note(
        self,
        interaction: discord.Interaction,
        case_id: CaseId,
        text: app_commands.Range[str, 1, 1000],
    ) -> None:
        """Record a note in the case's timeline, and that it was added in the audit log."""
        found = await self._moderator_case(interaction, case_id)
        if found is None:
            return
        member, case = found
        event = await self.bot.engine.storage.cases.add_note(
            case.id, actor=actor(member), note=text
        )
        if event is None:
            await reply(interaction, f"Case #{case.id} no longer exists.")
            return
        # The audit log is append-only and never purged: it gets the note's hash, which proves
        # the timeline's text unchanged, rather than the text, which may name people.
        digest = hashlib.sha256(text.encode()).hexdigest()
        await audit(
            self.bot,
            interaction,
            "case.note",
            f"case {case.id}",
            {"event_id": event.id, "note_sha256": digest},
        )
        await reply(interaction, f"Note added to case #{case.id}: `/cases show` lists it.")

    @group.command(name="hold", description="Place or lift a legal hold: held evidence is kept")
    @app_commands.describe(case_id="The case's number", on="True to place the hold, False to lift")
    async def hold(self, interaction: discord.Interaction, case_id: CaseId, on: bool) -> None:
        """Place or lift a case's legal hold; while held its evidence is never purged."""
        found = await self._moderator_case(interaction, case_id)
        if found is None:
            return
        member, case = found
        if case.legal_hold == on:
            state = "already under" if on else "not under"
            await reply(interaction, f"Case #{case.id} is {state} legal hold: nothing changed.")
            return
        await self.bot.engine.storage.cases.set_legal_hold(case.id, on, actor=actor(member))
        await audit(self.bot, interaction, "case.legal_hold", f"case {case.id}", {"hold": on})
        if on:
            text = (
                f"Case #{case.id} is under legal hold: its evidence is never purged, neither when "
                "it expires nor on a data request, until the hold is lifted."
            )
        else:
            text = (
                f"Legal hold lifted from case #{case.id}: its evidence is purged once it expires "
                "(within the hour if it already has)."
            )
        await reply(interaction, text)

    @group.command(
        name="forget-user", description="Data request: purge a user's evidence in this server"
    )
    @app_commands.describe(user="Whose evidence to purge")
    async def forget_user(
        self, interaction: discord.Interaction, user: discord.Member | discord.User
    ) -> None:
        """Purge the evidence (the encrypted media) of every case about ``user`` in this server.

        Cases under legal hold keep theirs. The cases themselves stay, with their hashes and
        timelines: they hold no media, and they keep the media blocked and decisions accountable.
        """
        member = await self._moderator(interaction)
        if member is None:
            return
        storage = self.bot.engine.storage
        guild_id = member.guild.id
        purged, kept = await storage.evidence.purge_author(guild_id, user.id, now=datetime.now(UTC))
        cases = await storage.cases.count_by_author(guild_id, user.id)
        await audit(
            self.bot,
            interaction,
            "privacy.forget_user",
            f"user {user.id}",
            {"purged": purged, "kept_under_hold": kept, "cases": cases},
        )
        await reply(interaction, forget_text(user.mention, purged, kept, cases))

    @group.command(name="audit-verify", description="Check that the audit log was not altered")
    async def audit_verify(self, interaction: discord.Interaction) -> None:
        """Walk the whole audit chain and report whether it is intact, or where it breaks."""
        if await self._moderator(interaction) is None:
            return
        # The walk covers the whole log, which may outlast Discord's 3-second window.
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.bot.engine.storage.audit.verify()
        await reply(interaction, verify_text(result))

    async def _decide(self, interaction: discord.Interaction, case_id: int, decide: Decide) -> None:
        member = await self._moderator(interaction)
        if member is None:
            return
        # Deciding talks to Discord (a timeout, a repost, the alert's edit): answer later.
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            case = await self.bot.cases.get(case_id, member.guild.id)
            answer = await decide(case, member)
        except CaseError as exc:
            answer = str(exc)
        await send_answer(interaction, answer if isinstance(answer, Answer) else Answer(answer))

    async def _moderator_case(
        self, interaction: discord.Interaction, case_id: int
    ) -> tuple[discord.Member, Case] | None:
        # The caller, if a moderator, and the case, if it is one of this server's.
        member = await self._moderator(interaction)
        if member is None:
            return None
        try:
            return member, await self.bot.cases.get(case_id, member.guild.id)
        except CaseError as exc:
            await reply(interaction, str(exc))
            return None

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
            "Only moderators (Manage Messages, or the server's moderator role) can use /cases.",
        )
        return None


async def setup(bot: ConsentryBot) -> None:
    """Register the `/cases` commands."""
    await bot.add_cog(Cases(bot))
