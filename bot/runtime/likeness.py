"""What the bot does on Discord around protected members: checking they are still members
before their likeness removes anything, and the private notices they asked for."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from bot.core.moderation import Decision, protected_members
from bot.core.policy import LIKENESS_SIGNAL, LIKENESS_SYNTHETIC_SIGNAL
from bot.runtime.alerts import MediaReport

if TYPE_CHECKING:
    from bot.cases import CaseService
    from bot.protection import ProtectionService
    from bot.runtime.actions import Actioner
    from bot.storage import Case

log = logging.getLogger(__name__)


class LikenessEffects:
    """Membership checks and notices for likeness matches (Discord calls go via the actioner)."""

    def __init__(
        self, protection: ProtectionService, actioner: Actioner, cases: CaseService
    ) -> None:
        self.protection = protection
        self.actioner = actioner
        self.cases = cases

    async def departed(self, guild: discord.Guild, reports: Sequence[MediaReport]) -> bool:
        """End the protection of matched members who are no longer in the server (they left
        while the bot was away, or without the Server Members intent); say if any had."""
        matched = {
            r.member_id
            for report in reports
            for r in report.verdict.reasons
            if r.signal in (LIKENESS_SIGNAL, LIKENESS_SYNTHETIC_SIGNAL) and r.member_id
        }
        gone = False
        for member_id in sorted(matched):
            if not await self.actioner.is_member(guild, member_id):
                log.info("protected member %s left guild %s: protection ended", member_id, guild.id)
                gone = await self.protection.member_left(guild.id, member_id) or gone
        return gone

    async def notify(
        self, guild: discord.Guild, channel_id: int, decision: Decision, case: Case
    ) -> None:
        """Tell protected members shown by removed media, if they asked to be told."""
        for member_id in protected_members(decision.verdicts):
            if not self.protection.protected.wants_notice(guild.id, member_id):
                continue
            sent = await self.actioner.notify_member(
                member_id,
                f"Consentry removed a message in **{guild.name}** (<#{channel_id}>) with "
                f"explicit media showing your face (case {case.id}). Its moderators have been "
                "alerted. You asked for this notice when you enrolled; `/protect withdraw` "
                "there ends your protection.",
            )
            await self.cases.log(
                case,
                "member.notified" if sent else "member.notice_failed",
                f"protected member {member_id}",
            )
