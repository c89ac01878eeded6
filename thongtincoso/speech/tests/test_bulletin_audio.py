"""A bulletin's audio end to end: render in a job, cache, stale text, cancel, fail, upload.

Real espeak-ng, real PyAV encoders, real files in a media directory of the test's own; loudness is
measured with pyloudnorm on the decoded MP3 exactly as a device would play it.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyloudnorm
import pytest
from django.db import transaction

from thongtincoso.bulletins import services as bulletin_services
from thongtincoso.bulletins.tests.factories import draft
from thongtincoso.core.errors import ConflictError, NotFoundError, ServiceError
from thongtincoso.jobs.models import JobState, JobStatus
from thongtincoso.jobs.services import JobCancelled, JobProgress, job_cancel
from thongtincoso.speech import dsp, services, tasks
from thongtincoso.speech.clip import Clip
from thongtincoso.speech.models import Abbreviation, AudioAsset, AudioSource, BulletinAudio

from . import audio_samples
from .conftest import stored_files

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = (
    "UBND xã thông báo: từ 7h30 ngày 20/4/2026, trạm y tế tiêm vắc xin cho trẻ em. "
    "Phụ huynh mang theo sổ tiêm chủng.\n\nMọi thắc mắc xin gọi số 0912 345 678."
)


def _measure(mp3: bytes) -> tuple[float, float]:
    clip = dsp.decode(mp3, min_seconds=0)
    meter = pyloudnorm.Meter(clip.sample_rate)
    lufs = meter.integrated_loudness(clip.samples.astype(np.float64))
    return lufs, dsp.measure(clip).true_peak_dbtp


def _bulletin(staff: Any, tree: Any, text: str = TEXT) -> Any:
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    return bulletin_services.bulletin_update(
        actor=staff.hk_editor, bulletin=bulletin, version=bulletin.version, reading_text=text
    )


def _tone_mp3(seconds: float = 3.0, level: float = 0.05) -> bytes:
    t = np.arange(int(48_000 * seconds), dtype=np.float32) / 48_000
    samples = (level * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(
        np.float32
    )
    return dsp.encode_mp3(Clip(samples, 48_000))


def test_rendering_makes_loudness_normalised_mp3_and_opus_named_by_their_hash(
    staff: Any, tree: Any, media: Path
) -> None:
    bulletin = _bulletin(staff, tree)
    job = services.audio_render_start(actor=staff.hk_editor, bulletin=bulletin)

    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.message
    assert job.percent == 100
    row = BulletinAudio.objects.get(bulletin=bulletin)
    asset = row.asset
    assert asset is not None
    assert row.source == AudioSource.SPEECH
    mp3 = (media / asset.mp3.name).read_bytes()
    opus = (media / asset.opus.name).read_bytes()
    assert hashlib.sha256(mp3).hexdigest() == asset.sha256
    assert asset.mp3.name.endswith(f"{asset.sha256}.mp3")
    assert hashlib.sha256(opus).hexdigest() == asset.opus_sha256
    # The recorded rate is the MP3's own (what devices play), read back from the file.
    with av.open(io.BytesIO(mp3)) as container:
        assert asset.sample_rate == container.streams.audio[0].rate == dsp.MP3_RATE
    lufs, peak = _measure(mp3)
    assert abs(lufs - (-16.0)) <= 0.5
    assert peak <= -1.5
    assert abs(asset.integrated_lufs - lufs) < 0.2
    # Two numbers, a date, a time, a phone number and an abbreviation: a real bulletin's length.
    assert 10 < asset.duration < 60
    assert "ủy ban nhân dân" in asset.description.lower()
    assert "bảy giờ ba mươi phút" in asset.description
    assert not services.is_stale(bulletin, row)


def test_the_same_input_gives_the_same_asset_without_rendering_again(
    staff: Any, tree: Any, media: Path
) -> None:
    first = _bulletin(staff, tree)
    services.audio_render_start(actor=staff.hk_editor, bulletin=first)
    files = stored_files(media)
    other = _bulletin(staff, tree)  # another bulletin, same text, same unit settings
    job = services.audio_render_start(actor=staff.hk_editor, bulletin=other)

    job.refresh_from_db()
    assert job.result["cached"] is True
    assert AudioAsset.objects.count() == 1
    assert stored_files(media) == files
    assert other.speech_audio.asset_id == first.speech_audio.asset_id


def test_a_changed_text_or_abbreviation_renders_again(staff: Any, tree: Any, media: Path) -> None:
    bulletin = _bulletin(staff, tree, "HTX Tân Tiến họp lúc 8h.")
    services.audio_render_start(actor=staff.hk_editor, bulletin=bulletin)
    first = BulletinAudio.objects.get(bulletin=bulletin).asset

    bulletin = bulletin_services.bulletin_update(
        actor=staff.hk_editor,
        bulletin=bulletin,
        version=bulletin.version,
        reading_text="HTX Tân Tiến họp lúc 9h.",
    )
    row = BulletinAudio.objects.get(bulletin=bulletin)
    assert services.is_stale(bulletin, row)

    Abbreviation.objects.create(unit=tree.hanoi, written="HTX", spoken="hợp tác xã nông nghiệp")
    services.audio_render_start(actor=staff.hk_editor, bulletin=bulletin)
    row.refresh_from_db()
    assert row.asset_id != first.pk
    assert "hợp tác xã nông nghiệp" in row.asset.description
    assert not services.is_stale(bulletin, row)


def test_cancelling_a_running_rendering_stores_nothing(staff: Any, tree: Any, media: Path) -> None:
    long_text = " ".join(f"Câu số {i}: bà con chú ý thời tiết ngày mai." for i in range(30))
    bulletin = _bulletin(staff, tree, long_text)
    row = BulletinAudio.objects.create(bulletin=bulletin)
    job = JobStatus.objects.create(
        name="speech.render", created_by=staff.hk_editor, state="running"
    )
    report = tasks._reporter(JobProgress(str(job.pk)))
    seen: list[tuple[str, int]] = []

    def cancel_after_three_sentences(stage: str, done: int, total: int) -> None:
        seen.append((stage, done))
        if stage == "synthesising" and done == 3:
            job_cancel(job, actor=staff.hk_editor)
        report(stage, done, total)

    with pytest.raises(JobCancelled):
        services.render_bulletin(row.pk, progress=cancel_after_three_sentences)
    assert ("synthesising", 3) in seen
    assert ("synthesising", 4) not in seen
    assert AudioAsset.objects.count() == 0
    assert stored_files(media) == []
    row.refresh_from_db()
    assert row.asset_id is None


def test_a_job_cancelled_before_it_starts_never_runs(staff: Any, tree: Any, media: Path) -> None:
    bulletin = _bulletin(staff, tree)
    with transaction.atomic():  # the task is enqueued when this commits
        job = services.audio_render_start(actor=staff.hk_editor, bulletin=bulletin)
        assert job_cancel(job, actor=staff.hk_editor)
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert AudioAsset.objects.count() == 0
    assert stored_files(media) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("🙂🎉 ★★★ ### *** ///", "nothing a voice can read"),
        ("x" * 20_001, "at most 20,000"),
    ],
)
def test_unreadable_text_is_refused_with_a_reason_and_kept(
    staff: Any, tree: Any, media: Path, text: str, expected: str
) -> None:
    bulletin = _bulletin(staff, tree)
    # Stored as it is (an empty reading text is otherwise derived from the body again).
    type(bulletin).objects.filter(pk=bulletin.pk).update(reading_text=text)
    bulletin.refresh_from_db()
    with pytest.raises(ServiceError) as caught:
        services.audio_render_start(actor=staff.hk_editor, bulletin=bulletin)
    assert expected in str(caught.value.message).replace("20000", "20,000")
    bulletin.refresh_from_db()
    assert bulletin.reading_text == text
    assert JobStatus.objects.count() == 0
    assert AudioAsset.objects.count() == 0


def test_mixed_scripts_and_emoji_are_read_without_them(staff: Any, tree: Any, media: Path) -> None:
    bulletin = _bulletin(staff, tree, "Chúc mừng năm mới 🎉 新年快乐 С Новым годом, bà con!")
    job = services.audio_render_start(actor=staff.hk_editor, bulletin=bulletin)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.message
    description = BulletinAudio.objects.get(bulletin=bulletin).asset.description
    assert "🎉" not in description
    assert "新" not in description
    assert "Н" not in description
    assert "bà con" in description


def test_uploaded_audio_goes_through_the_same_loudness_path(
    staff: Any, tree: Any, media: Path
) -> None:
    bulletin = _bulletin(staff, tree)
    quiet = _tone_mp3(level=0.01)
    asset = services.audio_upload(
        actor=staff.hk_editor, bulletin=bulletin, stream=io.BytesIO(quiet), name="ghi-am.mp3"
    )
    lufs, peak = _measure((media / asset.mp3.name).read_bytes())
    assert abs(lufs + 16) <= 0.5
    assert peak <= -1.5
    assert asset.source == AudioSource.UPLOAD
    assert BulletinAudio.objects.get(bulletin=bulletin).asset == asset
    # The same file again is the same asset.
    again = services.audio_upload(
        actor=staff.hk_editor, bulletin=bulletin, stream=io.BytesIO(quiet), name="lan-2.mp3"
    )
    assert again.pk == asset.pk
    assert AudioAsset.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"This is a text file, not audio.\n" * 50, "not audio"),
        (b"", "no sound"),
        (b"<script>alert(1)</script>" * 20, "not audio"),
    ],
)
def test_a_file_that_is_not_audio_is_refused_and_nothing_is_stored(
    staff: Any, tree: Any, media: Path, data: bytes, expected: str
) -> None:
    bulletin = _bulletin(staff, tree)
    with pytest.raises(ServiceError) as caught:
        services.audio_upload(
            actor=staff.hk_editor, bulletin=bulletin, stream=io.BytesIO(data), name="tin.mp3"
        )
    assert expected in str(caught.value.message)
    assert AudioAsset.objects.count() == 0
    assert stored_files(media) == []
    assert not BulletinAudio.objects.filter(bulletin=bulletin, asset__isnull=False).exists()


def test_a_truncated_mp3_is_refused(staff: Any, tree: Any, media: Path) -> None:
    bulletin = _bulletin(staff, tree)
    whole = _tone_mp3(seconds=20)
    with pytest.raises(ServiceError) as caught:
        services.audio_upload(
            actor=staff.hk_editor,
            bulletin=bulletin,
            stream=io.BytesIO(whole[: len(whole) // 2]),
            name="cut.mp3",
        )
    assert "incomplete" in str(caught.value.message)
    assert stored_files(media) == []


def test_audio_can_only_change_while_the_bulletin_is_a_draft(
    staff: Any, tree: Any, media: Path
) -> None:
    bulletin = _bulletin(staff, tree)
    bulletin_services.bulletin_submit(actor=staff.hk_editor, bulletin=bulletin)
    bulletin.refresh_from_db()
    with pytest.raises(ConflictError):
        services.audio_render_start(actor=staff.hk_editor, bulletin=bulletin)
    with pytest.raises(ConflictError):
        services.audio_upload(
            actor=staff.hk_editor, bulletin=bulletin, stream=io.BytesIO(_tone_mp3()), name="a.mp3"
        )


def test_staff_of_another_commune_cannot_touch_the_audio(
    staff: Any, tree: Any, media: Path
) -> None:
    bulletin = _bulletin(staff, tree)
    with pytest.raises(NotFoundError):
        services.audio_render_start(actor=staff.cn_editor, bulletin=bulletin)
    with pytest.raises(NotFoundError):
        services.audio_upload(
            actor=staff.cn_editor, bulletin=bulletin, stream=io.BytesIO(_tone_mp3()), name="a.mp3"
        )


def test_publishing_a_radio_bulletin_renders_its_audio(staff: Any, tree: Any, media: Path) -> None:
    bulletin = _bulletin(staff, tree)
    assert "radio" in bulletin.channels
    bulletin_services.bulletin_submit(actor=staff.hk_editor, bulletin=bulletin)
    bulletin_services.bulletin_approve(actor=staff.hk_approver, bulletin=bulletin)
    row = BulletinAudio.objects.get(bulletin=bulletin)
    assert row.asset is not None
    assert row.job is not None
    assert row.job.created_by is None


def test_jingles_frame_the_speech_at_one_loudness(staff: Any, tree: Any, media: Path) -> None:
    admin = staff.hk_operator
    services.jingle_set(
        actor=admin, unit=tree.hoankiem, which="intro", stream=io.BytesIO(_tone_mp3(2.0, 0.5))
    )
    services.jingle_set(
        actor=admin, unit=tree.hoankiem, which="outro", stream=io.BytesIO(_tone_mp3(1.5, 0.002))
    )
    plain = _bulletin(staff, tree, "Bà con chú ý.")
    settings_row = services.speech_settings_for(tree.hoankiem)
    assert settings_row.intro is not None
    assert settings_row.outro is not None
    services.audio_render_start(actor=staff.hk_editor, bulletin=plain)
    asset = BulletinAudio.objects.get(bulletin=plain).asset
    # Intro (2 s) + gap + speech + gap + outro (1.5 s): longer than the speech alone.
    assert asset.duration > 3.5 + 1.0
    lufs, peak = _measure((media / asset.mp3.name).read_bytes())
    assert abs(lufs + 16) <= 0.5
    assert peak <= -1.5


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (audio_samples.wav_bytes(audio_samples.tone(0.1)), "at least 0.5 seconds"),
        # A WAV whose header declares four hours: refused before four hours are decoded.
        (
            audio_samples.wav_bytes(
                audio_samples.tone(2.0), declared_frames=4 * 3600 * audio_samples.RATE
            ),
            "at most 3600 seconds",
        ),
    ],
)
def test_too_short_and_too_long_recordings_are_refused_with_the_limits(
    staff: Any, tree: Any, media: Path, data: bytes, expected: str
) -> None:
    bulletin = _bulletin(staff, tree)
    with pytest.raises(ServiceError) as caught:
        services.audio_upload(
            actor=staff.hk_editor,
            bulletin=bulletin,
            stream=io.BytesIO(data),
            name="ghi-am.wav",
            source=AudioSource.RECORDING,
        )
    assert expected in str(caught.value.message)
    assert stored_files(media) == []


def test_a_50000_character_text_is_refused_with_the_limit(
    staff: Any, tree: Any, media: Path
) -> None:
    bulletin = _bulletin(staff, tree)
    text = ("Bà con chú ý lịch tiêm chủng ngày 20/4. " * 1300)[:50_000]
    type(bulletin).objects.filter(pk=bulletin.pk).update(reading_text=text)
    bulletin.refresh_from_db()
    with pytest.raises(ServiceError) as caught:
        services.audio_render_start(actor=staff.hk_editor, bulletin=bulletin)
    assert "50000" in str(caught.value.message)
    assert "20000" in str(caught.value.message)
