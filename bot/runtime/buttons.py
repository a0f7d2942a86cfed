"""The persistent review buttons on alerts: Confirm / Dismiss / Restore / Reveal.

They are discord.py DynamicItems whose custom_id carries the action and the case id, so an alert
posted before a restart keeps working after it. The bot's ``review`` attribute handles a click.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, runtime_checkable

import discord

from bot.storage import CaseStatus


@runtime_checkable
class ReviewHandler(Protocol):
    """What a click is handed to (:class:`bot.runtime.review.Reviewer`)."""

    async def handle(self, interaction: discord.Interaction, action: str, case_id: int) -> None:
        """Run ``action`` on case ``case_id`` for the member who clicked."""


ACTIONS = {
    "confirm": ("Confirm", discord.ButtonStyle.danger),
    "dismiss": ("Dismiss (false positive)", discord.ButtonStyle.secondary),
    "restore": ("Restore", discord.ButtonStyle.success),
    "reveal": ("Reveal original", discord.ButtonStyle.secondary),
}
TEMPLATE = r"consentry:case:(?P<action>confirm|dismiss|restore|reveal):(?P<case_id>[0-9]+)"


class CaseButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """One review button on an alert; survives restarts through its custom_id."""

    def __init__(self, action: str, case_id: int) -> None:
        label, style = ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=label, style=style, custom_id=f"consentry:case:{action}:{case_id}"
            )
        )
        self.action = action
        self.case_id = case_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CaseButton:
        return cls(match["action"], int(match["case_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        review = getattr(interaction.client, "review", None)
        if isinstance(review, ReviewHandler):
            await review.handle(interaction, self.action, self.case_id)


def review_view(case_id: int, status: CaseStatus, *, evidence: bool) -> discord.ui.View:
    """The buttons an alert shows: all four while open; afterwards only Reveal (and Restore for
    a dismissed case)."""
    view = discord.ui.View(timeout=None)
    wanted = ["confirm", "dismiss", "restore", "reveal"]
    if status is CaseStatus.DISMISSED:
        wanted = ["restore", "reveal"]
    elif status is not CaseStatus.OPEN:
        wanted = ["reveal"]
    for action in wanted:
        if action in ("restore", "reveal") and not evidence:
            continue  # nothing to repost or show without kept evidence
        view.add_item(CaseButton(action, case_id))
    return view


BAN_TEMPLATE = r"consentry:ban:(?P<case_id>[0-9]+)"


class BanButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=BAN_TEMPLATE):
    """The confirmation a ban asks for: shown to the moderator who confirmed a case when the
    server's ladder says ban. Nothing happens unless it is pressed."""

    def __init__(self, case_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Ban the author",
                style=discord.ButtonStyle.danger,
                custom_id=f"consentry:ban:{case_id}",
            )
        )
        self.case_id = case_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> BanButton:
        return cls(int(match["case_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        review = getattr(interaction.client, "review", None)
        if isinstance(review, ReviewHandler):
            await review.handle(interaction, "ban", self.case_id)


def ban_view(case_id: int) -> discord.ui.View:
    """The one-button view that confirms a ban."""
    view = discord.ui.View(timeout=None)
    view.add_item(BanButton(case_id))
    return view
