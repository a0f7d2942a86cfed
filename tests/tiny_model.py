"""The stand-in redness model (``bot.standin_model``), as the tests have always imported it."""

from bot.standin_model import LABELS, SIZE, build_red_model, write_manifest

__all__ = ["LABELS", "SIZE", "build_red_model", "write_manifest"]
