"""Reviewing cases from an alert's buttons (:mod:`bot.runtime.buttons`): checks the
permission, decides through the case's checked transition, then carries out the effects."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import discord

from bot.cases import CaseError
from bot.runtime.actions import REPOSTED
from bot.runtime.alerts import case_incident
from bot.runtime.buttons import ban_view, review_view
from bot.runtime.effects import Due
from bot.runtime.permissions import is_moderator, refuse
from bot.storage import Case, CaseStatus

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a review action tells the moderator, with buttons if it asks for more."""

    text: str
    view: discord.ui.View | None = None


async def send_answer(interaction: discord.Interaction, answer: Answer) -> None:
    """The answer, only to the moderator, as the follow-up to a deferral or the response."""
    view = answer.view or discord.utils.MISSING
    if interaction.response.is_done():
        await interaction.followup.send(answer.text[:2000], ephemeral=True, view=view)
    else:
        await interaction.response.send_message(answer.text[:2000], ephemeral=True, view=view)


class Reviewer:
    """Runs a moderator's review action: checks the permission, decides, acts, logs."""

    def __init__(self, bot: ConsentryBot) -> None:
        self.bot = bot

    async def handle(self, interaction: discord.Interaction, action: str, case_id: int) -> None:
        guild = interaction.guild
        member = interaction.user
        if guild is None or not isinstance(member, discord.Member):
            await refuse(interaction, "Review buttons work only inside the server.")
            return
        if not is_moderator(member, await self.bot.guild_settings.get(guild.id)):
            await self.bot.engine.storage.audit.append(
                guild_id=guild.id,
                actor=_actor(member),
                action="review.refused",
                subject=f"case {case_id}",
                details={"button": action},
            )
            await refuse(interaction, "Only moderators can review Consentry cases.")
            return
        try:
            case = await self.bot.cases.get(case_id, guild.id)
            if action == "reveal":
                await self.reveal(interaction, case, member)
                return
            # Confirm, dismiss, restore and ban call Discord (ladder, webhook, alert edit):
            # answer "thinking" now so the interaction outlives Discord's 3-second deadline.
            await interaction.response.defer(ephemeral=True, thinking=True)
            answer = await getattr(self, action)(case, member)
        except CaseError as exc:
            await refuse(interaction, str(exc))
            if action in ("confirm", "dismiss", "restore"):
                await self._match_buttons(interaction, case_id, guild.id)
            return
        await send_answer(interaction, answer if isinstance(answer, Answer) else Answer(answer))

    async def confirm(self, case: Case, member: discord.Member) -> Answer:
        """Confirm ``case`` for ``member``: block its hashes here, apply the action ladder. A ban
        is not applied: the moderator is asked to confirm it with a button."""
        guild = member.guild
        settings = await self.bot.guild_settings.get(guild.id)
        # A flagged message is still up: confirming it removes it.
        remove = case.action != "quarantine" and not settings.dry_run
        count = await self.bot.cases.confirmed_before(case) + 1
        ladder = settings.action_ladder
        step = ladder[min(count, len(ladder)) - 1] if ladder else "none"
        # The deletion and the ladder step (never a ban: that is asked for) are due from the
        # confirmation's own transaction, then carried out from the work record.
        due_step = step if step not in ("none", "ban") and not settings.dry_run else ""
        updated = await self.bot.cases.confirm(
            case, actor=_actor(member), remove=remove, ladder=due_step
        )
        await self.bot.engine.refresh_blocklist()
        reason = f"Consentry case {case.id} confirmed"
        outcome = ""
        if remove or due_step:
            due = Due(
                updated,
                case.channel_id,
                case.message_id,
                remove,
                False,
                reason=reason,
                ladder=due_step,
            )
            done, _ = await self.bot.effects.run(due, case_incident(updated, ""))
            outcome = done.outcome  # the deletion's, then the ladder step's
        view = None
        if settings.dry_run:
            outcome = f"Dry run: the ladder would apply '{step}'."
        elif step == "ban":
            outcome += (
                f" The server's ladder says **ban** for <@{case.author_id}> ({count} confirmed "
                "cases). Press **Ban the author** to ban them; nothing happens otherwise."
            )
            view = ban_view(case.id)
        elif step == "none":
            outcome += " No action against the author (the server's ladder says none)."
        outcome = outcome.strip()
        shown = "A ban was proposed." if view is not None else outcome
        await self._refresh_alert(updated, f"Confirmed by {member.mention}. {shown}")
        text = f"Case {case.id} confirmed: its hashes now block this media here. {outcome}"
        return Answer(text, view)

    async def ban(self, case: Case, member: discord.Member) -> str:
        """The confirmed ban: only for a confirmed case, by a moderator who may ban, logged."""
        if case.status is not CaseStatus.CONFIRMED:
            raise CaseError(f"Case {case.id} is {case.status.value}: a ban needs it confirmed.")
        if not (member.guild_permissions.ban_members or member.guild_permissions.administrator):
            raise CaseError("Banning needs the Ban Members permission.")
        reason = f"Consentry case {case.id} confirmed; ban confirmed by {member}"
        result = await self.bot.actioner.apply_step(member.guild, case.author_id, "ban", reason)
        outcome = f"{result.detail} Press the button again." if result.retry else result.detail
        action = "member.banned" if result.done else "member.ban_failed"
        await self.bot.cases.log(case, action, result.detail)
        await self.bot.engine.storage.cases.add_note(
            case.id, actor=_actor(member), note=f"ban confirmed: {outcome}"
        )
        await self._refresh_alert(case, f"Ban confirmed by {member.mention}. {outcome}")
        return f"Case {case.id}: {outcome}"

    async def dismiss(self, case: Case, member: discord.Member) -> str:
        """Dismiss ``case`` as a false positive: allow-list its hashes here."""
        updated = await self.bot.cases.dismiss(case, actor=_actor(member))
        await self.bot.engine.refresh_blocklist()
        await self._refresh_alert(updated, f"Dismissed by {member.mention} as a false positive.")
        return f"Case {case.id} dismissed: this media is allow-listed and will not trigger again."

    async def restore(self, case: Case, member: discord.Member) -> str:
        """Repost the case's media under its author's name (allow-listing it first if open)."""
        channel = member.guild.get_channel_or_thread(case.channel_id)
        if channel is None or isinstance(channel, discord.CategoryChannel | discord.ForumChannel):
            raise CaseError("The channel of this case no longer exists.")
        self.bot.cases.check_restorable(case)  # before anything is decrypted or reposted
        originals = await self.bot.cases.originals(case, actor=_actor(member), purpose="restored")
        _fits_upload(originals, member.guild)
        # Decided first (allow-listing an open case in the same transaction), then reposted:
        # a concurrent Confirm either wins and nothing is reposted, or is refused.
        updated = await self.bot.cases.restore(case, actor=_actor(member))
        await self.bot.engine.refresh_blocklist()
        due = Due(updated, case.channel_id, case.message_id, False, False, repost=True)
        done, _ = await self.bot.effects.run(
            replace(due, files=originals), case_incident(updated, "")
        )
        if done.outcome == REPOSTED:
            await self._refresh_alert(updated, f"Restored by {member.mention}.")
            return (
                f"Case {case.id}: the post is back in {channel.mention}, under its author's name."
            )
        work = await self.bot.engine.storage.work.get(case.guild_id, case.message_id)
        if work is not None and work.repost_due:
            await self._refresh_alert(updated, f"Restored by {member.mention}; repost pending.")
            return f"Case {case.id} is restored; the repost will be tried again: {done.outcome}"
        raise CaseError(f"Case {case.id} is marked restored but the repost failed: {done.outcome}")

    async def reveal(
        self, interaction: discord.Interaction, case: Case, member: discord.Member
    ) -> None:
        """Show the original to ``member`` only, spoilered; the view is logged."""
        if member.guild.filesize_limit and any(
            e.size > member.guild.filesize_limit
            for e in await self.bot.engine.storage.evidence.for_case(case.id)
        ):
            raise CaseError(_too_large(member.guild))
        originals = await self.bot.cases.originals(case, actor=_actor(member), purpose="revealed")
        files = [
            discord.File(io.BytesIO(data), filename=name.split()[-1], spoiler=True)
            for name, data in originals
        ]
        await interaction.response.send_message(
            f"Original media of case {case.id}, shown only to you. This view is logged.",
            files=files,
            ephemeral=True,
        )

    async def _match_buttons(
        self, interaction: discord.Interaction, case_id: int, guild_id: int
    ) -> None:
        """After a refused press: an alert whose buttons are stale (its last edit failed, or
        another moderator decided first) gets the buttons of the case's current status."""
        message = interaction.message
        try:
            case = await self.bot.cases.get(case_id, guild_id)
        except CaseError:
            return
        if message is None or message.id != case.alert_message_id or not message.embeds:
            return
        view = review_view(case.id, case.status, evidence=self.bot.cases.keeps_evidence)
        await self.bot.actioner.update_alert(
            message.channel.id, message.id, message.embeds[0], view
        )

    async def _refresh_alert(self, case: Case, status_line: str) -> None:
        if case.alert_channel_id is None or case.alert_message_id is None:
            return
        channel = self.bot.get_channel(case.alert_channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            return
        try:
            message = await channel.fetch_message(case.alert_message_id)
        except discord.HTTPException:
            return
        if not message.embeds:
            return
        embed = message.embeds[0]
        embed.add_field(name="Review", value=status_line, inline=False)
        view = review_view(case.id, case.status, evidence=self.bot.cases.keeps_evidence)
        await self.bot.actioner.update_alert(channel.id, message.id, embed, view)


def _fits_upload(originals: list[tuple[str, bytes]], guild: discord.Guild) -> None:
    if any(len(data) > guild.filesize_limit for _, data in originals):
        raise CaseError(_too_large(guild))


def _too_large(guild: discord.Guild) -> str:
    limit = guild.filesize_limit / (1024 * 1024)
    return (
        f"The original is over this server's {limit:.0f} MiB upload limit, so Discord cannot "
        "carry it: nothing was shown or reposted."
    )


def _actor(member: discord.Member) -> str:
    return f"user:{member.id}"
