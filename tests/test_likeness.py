"""Protected members' faces: galleries, matching, enrolment files, sealing, storage, policy.

The real face model runs on face_recognition's test photos where faces are needed; the rest
uses descriptors made with numpy (a face descriptor is 128 numbers).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.core.detectors.base import Detection, Detector
from bot.core.evidence import EvidenceError, EvidenceKey
from bot.core.executor import BoundedExecutor
from bot.core.faces import enrolment
from bot.core.faces.embedder import FaceModel
from bot.core.faces.enrolment import EnrolmentError
from bot.core.faces.face import FaceBox, FaceFinding
from bot.core.faces.likeness import Enrolled, Gallery, ProtectedFaces
from bot.core.faces.stage import FaceStage, Trigger
from bot.core.findings import Findings
from bot.core.hashes import MediaHashes
from bot.core.limits import MediaLimits
from bot.core.matcher import BlocklistMatcher
from bot.core.media import Media, load_media
from bot.core.policy import LIKENESS_OFF_KEY, Policy
from bot.core.scanner import Scanner
from bot.core.verdict import Action
from bot.protection import (
    ENROL_COOLDOWN_SECONDS,
    EnrolmentCooldown,
    ProtectionService,
    ProtectionUnavailable,
)
from bot.storage import NewEnrolment, Storage
from tests.faces_support import OTHER_PERSON, SAME_PERSON, face_manifest, photo_bytes

GUILD = 7


def _unit(seed: int, n: int = 1) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, 128)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True) * 1.38  # dlib-like length


def _face(vector: np.ndarray, frame: int = 0, triggers: tuple[str, ...] = ("m",)) -> FaceFinding:
    return FaceFinding(frame, FaceBox(0, 0, 100, 100), vector.astype(np.float32), triggers)


def test_a_face_matches_the_closest_protected_member_within_the_distance() -> None:
    alice, bob = _unit(1, 2), _unit(2, 1)
    gallery = Gallery([Enrolled(10, alice), Enrolled(20, bob, notify=True)])
    near_alice = alice[1] + 0.01
    (match,) = gallery.match([_face(near_alice)], max_distance=0.5)
    assert match.member_id == 10 and match.distance < 0.15 and not match.notify
    assert gallery.match([_face(_unit(3)[0])], max_distance=0.5) == []  # a stranger
    assert gallery.match([_face(bob[0])], max_distance=0.5)[0].notify


def test_the_poster_is_never_matched_against_their_own_enrolment() -> None:
    alice = _unit(1)
    gallery = Gallery([Enrolled(10, alice)])
    assert gallery.match([_face(alice[0])], 0.5, exclude=10) == []
    assert gallery.match([_face(alice[0])], 0.5, exclude=11)[0].member_id == 10


def test_galleries_change_only_through_their_owner_and_count_generations() -> None:
    faces = ProtectedFaces(0.5)
    faces.put(GUILD, Enrolled(10, _unit(1)))
    faces.put(GUILD, Enrolled(20, _unit(2)))
    faces.put(GUILD, Enrolled(10, _unit(3)))  # re-enrolment replaces
    assert faces.count(GUILD) == 2 and faces.generation == 3
    assert faces.match(GUILD, [_face(_unit(1)[0])]) == ()
    assert faces.match(GUILD, [_face(_unit(3)[0])])[0].member_id == 10
    assert faces.match(GUILD + 1, [_face(_unit(3)[0])]) == ()  # other servers see nothing
    assert faces.remove(GUILD, 10) and not faces.remove(GUILD, 10)
    assert faces.count(GUILD) == 1 and faces.generation == 4


def test_enrolment_files_hold_descriptors_and_the_model_only() -> None:
    manifest = face_manifest()
    vectors = _unit(5, 2)
    data = enrolment.write_file(manifest, vectors)
    document = json.loads(data)
    assert set(document) == {"format", "version", "model", "faces"}
    assert document["model"] == {"name": "dlib-face", "version": manifest.sha256[:16]}
    np.testing.assert_allclose(enrolment.read_file(data, manifest), vectors, atol=1e-6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(model={"name": "dlib-face", "version": "0" * 16}), "make it again"),
        (lambda d: d.update(faces=[]), "1 to 5 faces"),
        (lambda d: d.update(faces=d["faces"] * 3), "1 to 5 faces"),
        (lambda d: d["faces"][0].pop(), "128 finite numbers"),
        (lambda d: d["faces"][0].__setitem__(3, "x"), "128 finite numbers"),
        (lambda d: d.update(photo="aGVsbG8="), "more than face descriptors"),
        (lambda d: d.update(format="other"), "not a consentry-likeness"),
        (lambda d: d.update(faces=[[0.0] * 128]), "implausible"),
    ],
)
def test_a_bad_enrolment_file_is_refused_with_the_reason(change, message: str) -> None:
    manifest = face_manifest()
    document = json.loads(enrolment.write_file(manifest, _unit(5, 2)))
    change(document)
    with pytest.raises(EnrolmentError, match=message):
        enrolment.read_file(json.dumps(document).encode(), manifest)
    with pytest.raises(EnrolmentError, match="not JSON"):
        enrolment.read_file(b"\xff\xfe", manifest)
    with pytest.raises(EnrolmentError, match="KiB"):
        enrolment.read_file(b" " * (enrolment.MAX_FILE_BYTES + 1), manifest)


def test_sealed_descriptors_open_only_for_their_member_server_and_key() -> None:
    key = EvidenceKey.generate()[0]
    vectors = _unit(9, 3)
    sealed = enrolment.seal(key, GUILD, 10, "dlib-face@x", vectors)
    assert vectors.tobytes() not in sealed.ciphertext  # encrypted, not just stored
    np.testing.assert_array_equal(enrolment.unseal(key, sealed, GUILD, 10, "dlib-face@x"), vectors)
    for guild, member, model in ((GUILD, 11, "dlib-face@x"), (8, 10, "dlib-face@x")):
        with pytest.raises(EvidenceError):
            enrolment.unseal(key, sealed, guild, member, model)  # moved to another member
    with pytest.raises(EvidenceError):
        enrolment.unseal(EvidenceKey.generate()[0], sealed, GUILD, 10, "dlib-face@x")


async def test_storage_keeps_an_enrolment_and_its_audit_record_in_one_change(
    storage: Storage,
) -> None:
    new = NewEnrolment(GUILD, 10, "dlib-face@x", 2, "k", b"n" * 12, b"c" * 40, notify=True)
    first = await storage.enrolments.put(new, actor="user:10")
    again = await storage.enrolments.put(new, actor="user:10")
    assert again.created_at == first.created_at and again.updated_at >= first.updated_at
    assert [e.member_id for e in await storage.enrolments.list(GUILD)] == [10]
    assert [e.member_id async for e in storage.enrolments.iter_all()] == [10]
    assert await storage.enrolments.remove(GUILD, 10, actor="user:99", why="removed", reason="x")
    assert not await storage.enrolments.remove(GUILD, 10, actor="user:10", why="withdrawn")
    records = await storage.audit.list(guild_id=GUILD)
    assert [r.action for r in records] == [
        "enrolment.created",
        "enrolment.replaced",
        "enrolment.removed",
    ]
    assert records[-1].details == {"reason": "x"} and records[-1].actor == "user:99"
    assert "c" * 40 not in json.dumps([r.details for r in records])  # never the data
    assert (await storage.audit.verify()).ok


def _policy_findings(triggers: tuple[str, ...]) -> tuple[Findings, tuple]:
    faces = ProtectedFaces(0.5)
    alice = _unit(1)
    faces.put(GUILD, Enrolled(10, alice))
    finding = _face(alice[0], triggers=triggers)
    return Findings("s", "m", faces=(finding,)), faces.match(GUILD, [finding])


def test_the_likeness_rule_quarantines_everywhere_and_names_the_member() -> None:
    findings, matches = _policy_findings(("nude",))
    policy = Policy.default(likeness=True)
    verdict = policy.evaluate(findings, GUILD, age_restricted=True, likeness=matches)
    assert verdict.action is Action.QUARANTINE
    (reason,) = verdict.reasons
    assert reason.signal == "likeness" and reason.member_id == 10 and "<@10>" in reason.message
    assert reason.to_dict()["member_id"] == 10
    assert Policy.default().evaluate(findings, GUILD, likeness=matches).action is Action.ALLOW


def test_a_server_can_turn_likeness_off_or_ignore_the_model_that_flagged_the_frame() -> None:
    findings, matches = _policy_findings(("nude",))
    policy = Policy.default(likeness=True)
    off = policy.with_overrides({LIKENESS_OFF_KEY: True})
    assert off.evaluate(findings, GUILD, likeness=matches).action is Action.ALLOW
    ignored = policy.with_overrides({"policy.models_off": ["nude"]})
    assert ignored.evaluate(findings, GUILD, likeness=matches).action is Action.ALLOW


def test_the_ai_generated_likeness_rule_is_off_by_default_and_only_flags() -> None:
    findings, matches = _policy_findings(("synthetic:clip",))
    assert Policy.default(likeness=True).evaluate(findings, GUILD, likeness=matches).reasons == ()
    opted = Policy.default(likeness=True, likeness_synthetic=True)
    verdict = opted.evaluate(findings, GUILD, likeness=matches)
    assert verdict.action is Action.FLAG and verdict.reasons[0].signal == "likeness.synthetic"


@pytest.fixture(scope="module")
def face_model() -> FaceModel:
    return FaceModel.load(face_manifest())


def _pixels(name: str) -> np.ndarray:
    return load_media(photo_bytes(name), MediaLimits()).frames[0].pixels


def test_the_real_model_tells_the_same_person_from_another(face_model: FaceModel) -> None:
    vectors = {}
    for name in (*SAME_PERSON, OTHER_PERSON):
        vetted = enrolment.vet_photo(face_model, name, _pixels(name))
        assert vetted.problem is None, name
        vectors[name] = vetted.descriptor
    same = [
        float(np.linalg.norm(vectors[a] - vectors[b]))
        for i, a in enumerate(SAME_PERSON)
        for b in SAME_PERSON[i + 1 :]
    ]
    other = [float(np.linalg.norm(vectors[a] - vectors[OTHER_PERSON])) for a in SAME_PERSON]
    assert max(same) < 0.5 < min(other)  # the default distance sits between the two


async def test_frames_below_every_trigger_cost_no_face_work(face_model: FaceModel) -> None:
    media = load_media(photo_bytes("obama.jpg"), MediaLimits())
    executor = BoundedExecutor(1)
    try:
        stage = FaceStage(face_model, executor, [Trigger("m", 0.5)])
        low = Detection("m", frame_scores=(0.49,))
        assert stage.eligible(media, [low]) == {}
        assert await stage.run(media, [low]) == ()
        high = Detection("m", frame_scores=(0.9,))
        (face,) = await stage.run(media, [high])
        assert face.triggers == ("m",) and face.explicit and face.box.width > 100
        # Boxes another model found are used instead of searching: too small a box, no face.
        tiny = (((face.box.x, face.box.y, 1, 1),),)
        given = Detection("n", frame_scores=(0.9,), face_boxes=tiny)
        assert await FaceStage(face_model, executor, [Trigger("n", 0.5)]).run(media, [given]) == ()
    finally:
        executor.shutdown()


async def test_protection_needs_the_key_and_keeps_no_photo(
    storage: Storage, face_model: FaceModel, tmp_path: Path
) -> None:
    executor = BoundedExecutor(1)
    try:
        none = ProtectionService(
            storage, None, face_model, ProtectedFaces(), executor, MediaLimits()
        )
        assert not none.available and "CONSENTRY_EVIDENCE_KEY" in (none.unavailable_reason or "")
        with pytest.raises(ProtectionUnavailable):
            await none.enrol_photos(GUILD, 10, [("a.jpg", photo_bytes("obama.jpg"))], notify=False)
        key = EvidenceKey.generate()[0]
        protected = ProtectedFaces()
        service = ProtectionService(storage, key, face_model, protected, executor, MediaLimits())
        data = photo_bytes("obama.jpg")
        outcome = await service.enrol_photos(GUILD, 10, [("a.jpg", data)], notify=False)
        assert outcome.usable == 1 and protected.count(GUILD) == 1
        stored = await storage.enrolments.get(GUILD, 10)
        assert stored is not None and data[:64] not in stored.ciphertext
        # A restart loads it back from storage (decrypted with the key).
        reloaded = ProtectedFaces()
        again = ProtectionService(storage, key, face_model, reloaded, executor, MediaLimits())
        assert await again.load() == 1 and reloaded.count(GUILD) == 1
        # Another key cannot open it: loaded as nothing, and logged.
        other = ProtectionService(
            storage,
            EvidenceKey.generate()[0],
            face_model,
            ProtectedFaces(),
            executor,
            MediaLimits(),
        )
        assert await other.load() == 0
        assert await service.member_left(GUILD, 10) and protected.count(GUILD) == 0
    finally:
        executor.shutdown()


def test_an_image_with_no_face_is_refused_as_such(face_model: FaceModel) -> None:
    grey = np.asarray(Image.new("RGB", (640, 480), (128, 128, 128)))
    assert enrolment.vet_photo(face_model, "g", grey).problem == "no face found"


async def test_a_member_enrols_at_most_once_per_cooldown(
    storage: Storage, face_model: FaceModel
) -> None:
    now = [1000.0]
    executor = BoundedExecutor(1)
    try:
        service = ProtectionService(
            storage,
            EvidenceKey.generate()[0],
            face_model,
            ProtectedFaces(),
            executor,
            MediaLimits(),
            clock=lambda: now[0],
        )
        photo = [("a.jpg", photo_bytes("obama.jpg"))]
        await service.enrol_photos(GUILD, 10, photo, notify=False)
        with pytest.raises(EnrolmentCooldown, match="try again in 15 s"):
            await service.enrol_photos(GUILD, 10, photo, notify=False)
        await service.enrol_photos(GUILD, 11, photo, notify=False)  # others are not held up
        now[0] += ENROL_COOLDOWN_SECONDS
        assert (await service.enrol_photos(GUILD, 10, photo, notify=True)).replaced
    finally:
        executor.shutdown()


class _AlwaysExplicit(Detector):
    """Scores every frame 0.9 as explicit: the stand-in for an explicit-content model."""

    name = "always"
    labels = ("explicit",)

    async def detect(self, media: Media, hashes: MediaHashes) -> Detection:
        scores = tuple(0.9 for _ in media.frames)
        return Detection(self.name, {"explicit": 0.9}, frame_scores=scores)


async def test_no_face_work_while_nobody_is_protected_and_the_first_enrolment_counts_at_once(
    face_model: FaceModel,
) -> None:
    executor = BoundedExecutor(1)
    try:
        protected = ProtectedFaces()
        scanner = Scanner(
            executor=executor,
            matcher=BlocklistMatcher(),
            detectors=[_AlwaysExplicit()],
            faces=FaceStage(face_model, executor, [Trigger("always", 0.5)]),
            protected=protected,
        )
        policy = Policy.default(likeness=True)
        data = photo_bytes("obama3.jpg")
        findings, _ = await scanner.examine(data)
        assert findings.faces == ()  # nobody to protect: no face was even looked for
        vetted = enrolment.vet_photo(face_model, "me", _pixels("obama.jpg"))
        assert vetted.descriptor is not None
        protected.put(GUILD, Enrolled(10, vetted.descriptor[None, :]))
        verdict = await scanner.scan(data, policy=policy, guild_id=GUILD)
        assert not verdict.cached and verdict.action is Action.QUARANTINE
        mine = await scanner.scan(data, policy=policy, guild_id=GUILD, author_id=10)
        assert mine.cached and mine.action is Action.ALLOW  # their own post
    finally:
        executor.shutdown()
