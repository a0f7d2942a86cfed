"""The one module that changes Discord: deletes, alerts, restores, timeouts, kicks, bans.

Everything else decides; this module acts, and turns every Discord error into a logged outcome
or a message to moderators. Nothing here raises into the caller for a Discord-side failure.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import discord

from bot.guild_settings import GuildSettings
from bot.metrics import Metrics
from bot.runtime.alerts import SETUP_NOTICE, Incident, alert_embed

log = logging.getLogger(__name__)

_AUDIT_REASON_LIMIT = 512
PREVIEW_NAME = "preview.jpg"
RESTORE_WEBHOOK = "Consentry restore"
REPOSTED = "Reposted under the author's name."


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one action on Discord came to."""

    done: bool
    detail: str
    """For moderators: "Message deleted.", or why it was not."""
    retry: bool = False
    """A passing fault (Discord 5xx or 429 after discord.py's own retries, a network error):
    worth trying again later. False for a refusal that needs a person (a missing permission)."""
    sent: discord.Message | None = None
    """The alert message, when an alert was posted in a channel."""


def _failure(exc: BaseException, what: str) -> Outcome:
    """An Outcome for a failed call: Discord's refusal, a server fault, or the network."""
    if isinstance(exc, discord.HTTPException):
        passing = exc.status >= 500 or exc.status == 429
        return Outcome(
            False, f"{what}: Discord answered {exc.status} ({exc.text or 'no detail'}).", passing
        )
    return Outcome(
        False, f"{what}: Discord could not be reached ({exc or type(exc).__name__}).", True
    )


_NETWORK = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


EDIT_TRIES = 3
"""Tries at editing a message (an alert's buttons, a sweep's progress): a stale message misleads,
but holding a caller for long does not help either; the edit after a later one fixes it."""
EDIT_RETRY_SECONDS = 1.0
"""The wait before the second try at an edit, doubled before the third."""


async def _edited(edit: Callable[[], Awaitable[object]], what: str) -> Outcome:
    """Run ``edit``, again after 1 s then 2 s while Discord answers with a passing fault."""
    failed = Outcome(False, f"Could not edit {what}.")
    for attempt in range(EDIT_TRIES):
        if attempt:
            await asyncio.sleep(EDIT_RETRY_SECONDS * 2 ** (attempt - 1))
        try:
            await edit()
        except (discord.HTTPException, *_NETWORK) as exc:
            failed = _failure(exc, f"Could not edit {what}")
            log.warning("%s", failed.detail)
            if not failed.retry:
                break
        else:
            return Outcome(True, "Edited.")
    return failed


def _alert_nonce(incident: Incident) -> str:
    """Discord takes nonces of up to 25 characters and, with ``enforce_nonce`` (discord.py
    sets it), answers a repeat within a few minutes with the message already created."""
    if incident.case_id is not None:
        return f"case-{incident.case_id}"
    return f"msg-{incident.post.message_id}"


class Actioner:
    """Performs moderation actions on Discord for decided incidents."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self.metrics: Metrics | None = None
        """Where Discord actions' times and errors are counted, when metrics are on."""

    def _observed(self, action: str, started: float, exc: BaseException | None = None) -> None:
        if self.metrics is None:
            return
        self.metrics.timed(f"discord:{action}", time.perf_counter() - started)
        if isinstance(exc, discord.HTTPException):
            self.metrics.discord_errors.labels(str(exc.status)).inc()
        elif exc is not None:
            self.metrics.discord_errors.labels("network").inc()

    async def delete(self, channel_id: int, message_id: int, reason: str) -> Outcome:
        """Delete a message (one already gone counts as deleted)."""
        started = time.perf_counter()
        try:
            # Message.delete() takes no reason; the HTTP call carries it to the audit log.
            await self._client.http.delete_message(
                channel_id, message_id, reason=reason[:_AUDIT_REASON_LIMIT]
            )
        except discord.NotFound:
            self._observed("delete", started)  # already gone: the outcome wanted
        except discord.Forbidden as exc:
            self._observed("delete", started, exc)
            detail = (
                f"Not deleted: Consentry lacks the Manage Messages permission in <#{channel_id}>."
            )
            return Outcome(False, detail)
        except (discord.HTTPException, *_NETWORK) as exc:
            self._observed("delete", started, exc)
            log.warning("delete of message %s failed: %s", message_id, exc)
            return _failure(exc, "Not deleted yet")
        else:
            self._observed("delete", started)
        return Outcome(True, "Message deleted.")

    async def alert(
        self,
        incident: Incident,
        settings: GuildSettings,
        *,
        preview: bytes | None = None,
        view: discord.ui.View | None = None,
    ) -> Outcome:
        """Send the alert to the alert channel (with its blurred preview and review buttons), or
        to the owner by DM while setup is incomplete or the alert channel is gone."""
        embed = alert_embed(incident)
        guild = self._client.get_guild(incident.post.guild_id)
        if guild is None:
            return Outcome(False, "Consentry is no longer in this server.")
        if settings.alert_channel_id is None:
            return await self._dm_owner(guild, embed)
        channel = guild.get_channel_or_thread(settings.alert_channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            log.warning(
                "guild %s: alert channel %s no longer exists", guild.id, settings.alert_channel_id
            )
            return await self.alert_owner(incident, "the alert channel no longer exists")
        files = []
        if preview is not None:
            files.append(discord.File(io.BytesIO(preview), filename=PREVIEW_NAME))
            embed.set_image(url=f"attachment://{PREVIEW_NAME}")
        started = time.perf_counter()
        try:
            sent = await channel.send(
                embed=embed,
                files=files,
                view=view or discord.utils.MISSING,
                allowed_mentions=discord.AllowedMentions.none(),
                # The same nonce for every try: a retry after a crash between Discord's answer
                # and its record returns the alert already posted instead of a second one.
                nonce=_alert_nonce(incident),
            )
        except (discord.HTTPException, *_NETWORK) as exc:
            self._observed("alert", started, exc)
            log.warning("guild %s: could not post alert: %s", guild.id, exc)
            return _failure(exc, "Alert not posted")
        self._observed("alert", started)
        return Outcome(True, "Alert posted.", sent=sent)

    async def alert_owner(self, incident: Incident, why: str) -> Outcome:
        """The fallback: the alert to the server owner by DM, saying why it is not in the alert
        channel (DMs carry no review buttons: moderators decide with /cases)."""
        guild = self._client.get_guild(incident.post.guild_id)
        if guild is None:
            return Outcome(False, "Consentry is no longer in this server.")
        note = (
            f"From **{guild.name}**: this alert could not be posted in the alert channel "
            f"({why}). Review it with `/cases show {incident.case_id}`."
        )
        return await self._dm_owner(guild, alert_embed(incident), content=note)

    async def update_alert(
        self, channel_id: int, message_id: int, embed: discord.Embed, view: discord.ui.View | None
    ) -> Outcome:
        """Replace an alert's embed and buttons (after a moderator decided its case), trying
        again shortly after a passing fault."""
        channel = self._client.get_channel(channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            return Outcome(False, "The alert channel no longer exists.")
        # Edited by id, without an attachments list: Discord keeps the files it has, the
        # preview included (an embed's file is not in message.attachments, so listing those
        # would drop it).
        message = channel.get_partial_message(message_id)
        return await _edited(lambda: message.edit(embed=embed, view=view), f"alert {message_id}")

    async def restore(
        self,
        channel: discord.abc.GuildChannel | discord.Thread,
        author: discord.abc.User,
        files: Sequence[tuple[str, bytes]],
        note: str,
    ) -> Outcome:
        """Repost ``files`` under the author's name and avatar through a webhook."""
        parent = channel.parent if isinstance(channel, discord.Thread) else channel
        if not isinstance(parent, discord.TextChannel | discord.ForumChannel):
            return Outcome(False, "Not restored: this kind of channel cannot be restored into.")
        try:
            hooks = await parent.webhooks()
            hook = next((h for h in hooks if h.name == RESTORE_WEBHOOK and h.token), None)
            if hook is None:
                hook = await parent.create_webhook(name=RESTORE_WEBHOOK, reason="restore a post")
            await hook.send(
                content=note,
                username=getattr(author, "display_name", author.name),
                avatar_url=author.display_avatar.url,
                files=[discord.File(io.BytesIO(data), filename=name) for name, data in files],
                thread=channel if isinstance(channel, discord.Thread) else discord.utils.MISSING,
                allowed_mentions=discord.AllowedMentions.none(),
                wait=True,
            )
        except discord.Forbidden:
            return Outcome(False, "Not restored: Consentry lacks the Manage Webhooks permission.")
        except (discord.HTTPException, *_NETWORK) as exc:
            log.warning("repost in channel %s failed: %s", channel.id, exc)
            return _failure(exc, "Not restored yet")
        return Outcome(True, REPOSTED)

    async def apply_step(
        self, guild: discord.Guild, user_id: int, step: str, reason: str
    ) -> Outcome:
        """Apply one action-ladder step (``none``, ``timeout:<minutes>``, ``kick``, ``ban``).
        A member who left or a missing permission is final; a passing fault is worth a retry
        (each step is idempotent: a second timeout or kick of the same member changes nothing)."""
        member = discord.Object(id=user_id)
        verb = step.partition(":")[0]
        try:
            if step.startswith("timeout:"):
                minutes = int(step.partition(":")[2])
                target = guild.get_member(user_id) or await guild.fetch_member(user_id)
                await target.timeout(timedelta(minutes=minutes), reason=reason)
                return Outcome(True, f"Author timed out for {minutes} minutes.")
            if step == "kick":
                await guild.kick(member, reason=reason)
                return Outcome(True, "Author kicked.")
            if step == "ban":
                await guild.ban(member, reason=reason, delete_message_seconds=0)
                return Outcome(True, "Author banned.")
        except discord.NotFound:
            return Outcome(False, "The author is no longer in the server.")
        except discord.Forbidden:
            return Outcome(
                False, f"Could not {verb} the author: missing permission or role too low."
            )
        except (discord.HTTPException, *_NETWORK) as exc:
            log.warning("%s of member %s failed: %s", verb, user_id, exc)
            return _failure(exc, f"Could not {verb} the author yet")
        return Outcome(True, "No action against the author (the server's ladder says none).")

    async def slowmode(
        self, channel: discord.TextChannel | discord.Thread, seconds: int, reason: str
    ) -> Outcome:
        """Set a channel's slow mode (0 turns it off)."""
        try:
            await channel.edit(slowmode_delay=seconds, reason=reason[:_AUDIT_REASON_LIMIT])
        except discord.Forbidden:
            return Outcome(False, f"<#{channel.id}>: Consentry lacks Manage Channels there.")
        except (discord.HTTPException, *_NETWORK) as exc:
            return _failure(exc, f"<#{channel.id}>: slow mode not set")
        return Outcome(True, f"<#{channel.id}>: slow mode {seconds} s.")

    async def setup_notice(self, guild: discord.Guild) -> bool:
        """Say once, in the system channel, what setup is missing (never mentioning content)."""
        channel = guild.system_channel
        if channel is None:
            return (await self._dm_owner(guild, None, content=SETUP_NOTICE)).done
        return await self._send(channel, content=SETUP_NOTICE)

    async def tell_alert_channel(
        self, guild: discord.Guild, settings: GuildSettings, text: str
    ) -> bool:
        """Post a plain operational notice (missing permissions...) where moderators will see it."""
        if settings.alert_channel_id is None:
            return False
        channel = guild.get_channel_or_thread(settings.alert_channel_id)
        return isinstance(channel, discord.abc.Messageable) and await self._send(
            channel, content=text
        )

    async def post_notice(
        self, target: discord.abc.Messageable, text: str
    ) -> discord.Message | None:
        """Post a notice that will be edited later (a sweep's progress); None if it failed."""
        try:
            return await target.send(content=text, allowed_mentions=discord.AllowedMentions.none())
        except (discord.HTTPException, *_NETWORK) as exc:
            log.warning("could not post to %s: %s", getattr(target, "id", target), exc)
            return None

    async def edit_notice(
        self, message: discord.Message | discord.PartialMessage | None, text: str
    ) -> Outcome:
        """Replace a notice's text, trying again shortly after a passing fault."""
        if message is None:
            return Outcome(False, "There is no notice to edit.")
        none = discord.AllowedMentions.none()
        return await _edited(
            lambda: message.edit(content=text, allowed_mentions=none), f"notice {message.id}"
        )

    async def is_member(self, guild: discord.Guild, user_id: int) -> bool:
        """Whether ``user_id`` is still in ``guild``: the cache, else Discord. Any answer but
        "unknown member" counts as yes, so a Discord fault never ends a protection."""
        if guild.get_member(user_id) is not None:
            return True
        try:
            await guild.fetch_member(user_id)
        except discord.NotFound:
            return False
        except discord.HTTPException as exc:
            log.warning("cannot check member %s in guild %s: %s", user_id, guild.id, exc)
        return True

    async def notify_member(self, user_id: int, text: str) -> bool:
        """A private message to a protected member who asked for notices (they may have closed
        their DMs: then nothing is sent, and that is logged)."""
        try:
            user = self._client.get_user(user_id) or await self._client.fetch_user(user_id)
        except discord.HTTPException as exc:
            log.warning("cannot find protected member %s to notify: %s", user_id, exc)
            return False
        return await self._send(user, content=text)

    async def _dm_owner(
        self, guild: discord.Guild, embed: discord.Embed | None, content: str | None = None
    ) -> Outcome:
        try:
            owner = guild.owner or await self._client.fetch_user(guild.owner_id or 0)
        except (discord.HTTPException, *_NETWORK) as exc:
            log.warning("guild %s: cannot find the owner to alert: %s", guild.id, exc)
            return _failure(exc, "The owner could not be found")
        if embed is not None and content is None:
            content = f"From **{guild.name}**, where Consentry is not fully set up yet:"
        try:
            await owner.send(
                content=content,
                embeds=[embed] if embed is not None else [],
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except (discord.HTTPException, *_NETWORK) as exc:
            log.warning("guild %s: could not DM the owner: %s", guild.id, exc)
            return _failure(exc, "The owner could not be told by DM")
        return Outcome(True, "Sent to the server owner by DM.")

    async def _send(
        self,
        target: discord.abc.Messageable,
        *,
        content: str | None = None,
        embed: discord.Embed | None = None,
    ) -> bool:
        embeds = [embed] if embed is not None else []
        try:
            await target.send(
                content=content, embeds=embeds, allowed_mentions=discord.AllowedMentions.none()
            )
        except discord.HTTPException as exc:
            log.warning("could not send to %s: %s", getattr(target, "id", target), exc)
            return False
        return True
