"""The CDN and media proxy: attachments (signed URLs) and sticker images.

Served on their own ports, like cdn.discordapp.com and media.discordapp.net, so a bot that
allow-lists download hosts can tell the API from the CDN.
"""

from __future__ import annotations

from aiohttp import web

from bot.sandbox.context import Context

_STICKER_TYPES = {
    1: ("png", "image/png"),
    2: ("png", "image/png"),
    3: ("json", "application/json"),
    4: ("gif", "image/gif"),
}
_GONE = "This content is no longer available."


def build_app(ctx: Context) -> web.Application:
    """An aiohttp application for CDN paths; the same app serves the media-proxy host."""

    async def attachment(request: web.Request) -> web.StreamResponse:
        if ctx.cdn_gate is not None:
            await ctx.cdn_gate.wait()
        path = request.path
        blob = ctx.world.blobs.get(path)
        if blob is None or not ctx.signer.valid(path, request.query):
            # Discord answers unsigned, expired or removed attachment links with this text.
            return web.Response(status=404, text=_GONE)
        headers = {"Cache-Control": "public, max-age=31536000", "Accept-Ranges": "bytes"}
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(blob.data))
            return web.Response(status=200, headers=headers, content_type=blob.content_type)
        return web.Response(body=blob.data, content_type=blob.content_type, headers=headers)

    async def sticker(request: web.Request) -> web.StreamResponse:
        sticker_id, _, extension = request.match_info["name"].partition(".")
        if not sticker_id.isdigit():
            return web.Response(status=404, text="404: Not Found")
        for guild in ctx.world.guilds.values():
            found = guild.stickers.get(int(sticker_id))
            if found is not None:
                expected, kind = _STICKER_TYPES.get(found.format_type, ("png", "image/png"))
                if extension not in (expected, "webp", "png"):
                    break
                return web.Response(body=found.data, content_type=kind)
        return web.Response(status=404, text="404: Not Found")

    app = web.Application()
    for folder in ("attachments", "ephemeral-attachments"):
        route = f"/{folder}/{{owner}}/{{attachment}}/{{filename}}"
        app.router.add_route("GET", route, attachment)
        app.router.add_route("HEAD", route, attachment)
    app.router.add_get("/stickers/{name}", sticker)
    return app
