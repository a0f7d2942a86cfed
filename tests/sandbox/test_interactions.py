"""Application commands, components and modals through the real discord.py machinery."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import discord
from discord import app_commands

from bot.sandbox import DemoWorld, Sandbox

from .conftest import SandboxBot, Starter

Seen = asyncio.Queue[Any]


def report_tree(client: SandboxBot, seen: Seen, guild_id: int) -> None:
    """The commands a moderation bot registers: /case show, a slash command, and a menu."""
    guild = discord.Object(guild_id)
    case = app_commands.Group(name="case", description="Work on cases", guild_ids=[guild_id])

    @case.command(name="show", description="Show a case")
    @app_commands.describe(number="Case number")
    async def show(
        interaction: discord.Interaction, number: int, user: discord.Member | None = None
    ) -> None:
        await seen.put(("show", number, user))
        await interaction.response.send_message(f"case {number}", ephemeral=True)

    @app_commands.command(name="scan", description="Scan an image")
    async def scan(interaction: discord.Interaction, image: discord.Attachment) -> None:
        await interaction.response.defer(thinking=True)
        data = await image.read()
        await seen.put(("scan", image.filename, len(data)))
        await interaction.followup.send(f"scanned {image.filename}")

    @app_commands.context_menu(name="Report as NCII")
    async def report(interaction: discord.Interaction, message: discord.Message) -> None:
        await seen.put(("report", message.id, message.content, len(message.attachments)))
        await interaction.response.send_modal(ReportModal(seen))

    client.tree.add_command(case)
    client.tree.add_command(scan, guild=guild)
    client.tree.add_command(report, guild=guild)


class ReportModal(discord.ui.Modal, title="Report as NCII"):
    details: discord.ui.TextInput[ReportModal] = discord.ui.TextInput(
        label="What is wrong?", custom_id="details"
    )

    def __init__(self, seen: Seen) -> None:
        super().__init__(custom_id="report-modal")
        self.seen = seen

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.seen.put(("modal", self.details.value))
        await interaction.response.send_message("Thanks, moderators were told.", ephemeral=True)


class ConfirmCase(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"case:(?P<id>\d+):confirm"
):
    """A persistent button, as the bot's alerts carry them."""

    seen: Seen

    def __init__(self, case_id: int) -> None:
        super().__init__(discord.ui.Button(label="Confirm", custom_id=f"case:{case_id}:confirm"))
        self.case_id = case_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ConfirmCase:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await self.seen.put(("confirm", self.case_id, interaction.user.id))
        await interaction.response.edit_message(content=f"case {self.case_id} confirmed", view=None)


async def synced_bot(start_bot: Starter, world: DemoWorld, seen: Seen, **kwargs: Any) -> SandboxBot:
    client = await start_bot(setup=lambda c: report_tree(c, seen, world.guild_id), **kwargs)
    await client.tree.sync()
    await client.tree.sync(guild=discord.Object(world.guild_id))
    return client


async def test_tree_sync_is_recorded_and_returns_ids(
    start_bot: Starter, sandbox: Sandbox, world: DemoWorld
) -> None:
    seen: Seen = asyncio.Queue()
    client = await start_bot(setup=lambda c: report_tree(c, seen, world.guild_id))
    synced = await client.tree.sync(guild=discord.Object(world.guild_id))
    request = await sandbox.wait_for_request(
        "PUT", "/applications/{application_id}/guilds/{guild_id}/commands"
    )
    assert request.status == 200
    assert {c["name"] for c in request.json} == {"case", "scan", "Report as NCII"}
    assert all(c.id and c.application_id == sandbox.application_id for c in synced)
    again = await client.tree.sync(guild=discord.Object(world.guild_id))
    assert {c.name: c.id for c in again} == {c.name: c.id for c in synced}  # ids are stable


async def test_a_slash_command_reaches_its_handler_and_the_response_is_recorded(
    start_bot: Starter, sandbox: Sandbox, world: DemoWorld
) -> None:
    seen: Seen = asyncio.Queue()
    await synced_bot(start_bot, world, seen)
    interaction = await sandbox.invoke_slash_command(
        world.guild_id,
        world.general_id,
        world.moderator_id,
        "case",
        {"number": 12, "user": world.member_ids[0]},
        subcommand="show",
    )
    kind, number, user = await asyncio.wait_for(seen.get(), 5)
    assert (kind, number, user.id) == ("show", 12, world.member_ids[0])
    await sandbox.wait_for_request(
        "POST", "/interactions/{interaction_id}/{interaction_token}/callback"
    )
    responses = sandbox.interaction_responses(int(interaction["id"]))
    assert responses[0]["kind"] == "callback" and responses[0]["type"] == 4
    assert responses[0]["json"]["data"]["content"] == "case 12"
    assert sandbox.ephemeral_messages()[-1]["content"] == "case 12"
    member = interaction["member"]
    assert int(member["permissions"]) & (1 << 40)  # the moderator can time members out


async def test_attachment_option_and_deferred_followup(
    start_bot: Starter, sandbox: Sandbox, world: DemoWorld
) -> None:
    seen: Seen = asyncio.Queue()
    await synced_bot(start_bot, world, seen)
    interaction = await sandbox.invoke_slash_command(
        world.guild_id,
        world.art_id,
        world.member_ids[0],
        "scan",
        {"image": ("cat.png", b"\x89PNG\r\n\x1a\nxx")},
    )
    assert await asyncio.wait_for(seen.get(), 5) == ("scan", "cat.png", 10)
    await sandbox.wait_for_request("POST", "/webhooks/{webhook_id}/{webhook_token}")
    kinds = [r["kind"] for r in sandbox.interaction_responses(int(interaction["id"]))]
    assert kinds == ["callback", "followup"]
    final = sandbox.messages(world.art_id)[-1]
    assert (
        final["content"] == "scanned cat.png" and final["flags"] & 128 == 0
    )  # no longer "thinking"
    assert final["interaction_metadata"]["name"] == "scan"


async def test_a_message_context_menu_gets_the_resolved_message_without_the_content_intent(
    start_bot: Starter, sandbox: Sandbox, world: DemoWorld
) -> None:
    seen: Seen = asyncio.Queue()
    client = await synced_bot(start_bot, world, seen, intents=discord.Intents.default())
    arrived: asyncio.Future[discord.Message] = asyncio.ensure_future(
        client.wait_for("message", timeout=5)
    )
    target = await sandbox.post_message(
        world.art_id, world.member_ids[2], "fake of a streamer", attachments=[("x.png", b"png")]
    )
    assert (await arrived).content == ""  # no MESSAGE_CONTENT intent: blanked on the gateway
    opened = await sandbox.invoke_message_command(
        world.guild_id, world.art_id, world.member_ids[0], "Report as NCII", int(target["id"])
    )
    assert await asyncio.wait_for(seen.get(), 5) == (
        "report",
        int(target["id"]),
        "fake of a streamer",
        1,
    )
    await sandbox.wait_for_request("POST", re.compile(rf"/interactions/{opened['id']}/"))
    await sandbox.submit_modal(int(opened["id"]), {"details": "It is a deepfake of me"})
    assert await asyncio.wait_for(seen.get(), 5) == ("modal", "It is a deepfake of me")


async def test_a_button_click_reaches_a_dynamic_item(
    start_bot: Starter, sandbox: Sandbox, world: DemoWorld
) -> None:
    seen: Seen = asyncio.Queue()
    ConfirmCase.seen = seen
    client = await start_bot(setup=lambda c: c.add_dynamic_items(ConfirmCase))
    channel = client.get_channel(world.mod_alerts_id)
    assert isinstance(channel, discord.TextChannel)
    view = discord.ui.View(timeout=None).add_item(ConfirmCase(42))
    alert = await channel.send("case 42 needs review", view=view)
    await sandbox.click_button(world.mod_alerts_id, alert.id, world.moderator_id, "case:42:confirm")
    assert await asyncio.wait_for(seen.get(), 5) == ("confirm", 42, world.moderator_id)
    await sandbox.wait_for_request(
        "POST", "/interactions/{interaction_id}/{interaction_token}/callback"
    )
    updated = sandbox.message(world.mod_alerts_id, alert.id)
    assert (
        updated is not None
        and updated["content"] == "case 42 confirmed"
        and updated["components"] == []
    )


async def test_a_late_response_misses_the_three_second_window(
    start_bot: Starter, sandbox: Sandbox, world: DemoWorld
) -> None:
    seen: Seen = asyncio.Queue()
    client = await synced_bot(start_bot, world, seen)
    sandbox.config.interaction_deadline = 0.0  # every response is late
    interaction = await sandbox.invoke_slash_command(
        world.guild_id, world.general_id, world.owner_id, "case", {"number": 1}, subcommand="show"
    )
    request = await sandbox.wait_for_request(
        "POST", re.compile(rf"/interactions/{interaction['id']}/")
    )
    assert request.status == 404 and request.response["code"] == 10062
    assert client.is_ready()


class PickView(discord.ui.View):
    def __init__(self, seen: Seen) -> None:
        super().__init__(timeout=None)
        self.seen = seen

    @discord.ui.select(
        custom_id="verdict",
        options=[discord.SelectOption(label="confirm"), discord.SelectOption(label="restore")],
    )
    async def verdict(
        self, interaction: discord.Interaction, select: discord.ui.Select[PickView]
    ) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content=f"verdict: {select.values[0]}")
        await self.seen.put(("verdict", select.values))


async def test_select_menus_and_user_commands(
    start_bot: Starter, sandbox: Sandbox, world: DemoWorld
) -> None:
    seen: Seen = asyncio.Queue()

    def setup(client: SandboxBot) -> None:
        @client.tree.context_menu(name="Case history")
        async def history(interaction: discord.Interaction, member: discord.Member) -> None:
            await seen.put(("history", member.id))
            await interaction.response.send_message("none", view=PickView(seen), ephemeral=True)

    client = await start_bot(setup=setup)
    await client.tree.sync()
    opened = await sandbox.invoke_user_command(
        world.guild_id, world.general_id, world.moderator_id, "Case history", world.member_ids[1]
    )
    assert await asyncio.wait_for(seen.get(), 5) == ("history", world.member_ids[1])
    await sandbox.wait_for_request("POST", re.compile(rf"/interactions/{opened['id']}/"))
    panel = sandbox.interaction(int(opened["id"])).original_message_id
    assert panel is not None
    await sandbox.choose_select(world.general_id, panel, world.moderator_id, "verdict", ["restore"])
    assert await asyncio.wait_for(seen.get(), 5) == ("verdict", ["restore"])
    assert sandbox.ephemeral_messages()[-1]["content"] == "verdict: restore"
