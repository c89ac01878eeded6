"""The three speech engines: one shared contract, then each engine's own behaviour.

All real: espeak-ng runs in-process, Piper runs a tiny ONNX voice built by the tests, and the HTTP
engine talks to a local HTTP server over sockets.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from thongtincoso.speech.clip import Clip
from thongtincoso.speech.engines import ENGINE_NAMES, ERROR_CODES, get_engine
from thongtincoso.speech.engines.base import Engine
from thongtincoso.speech.engines.espeak import CALIBRATION, espeak_speed, espeak_version
from thongtincoso.speech.engines.http import HttpEngine, decode_audio
from thongtincoso.speech.engines.piper import PiperEngine
from thongtincoso.speech.errors import EngineError

from .fake_tts_server import FakeTTSServer, fake_tts_server, make_wav
from .tiny_piper_voice import build_tiny_voice

HELLO = "Xin chào bà con."
LONGER = (
    "Xin chào bà con. Ủy ban nhân dân xã thông báo lịch tiêm phòng cho gia súc và gia cầm "
    "vào sáng thứ bảy tuần này tại nhà văn hóa thôn."
)
ENGINES_DIR = Path(__file__).resolve().parent.parent / "engines"


@pytest.fixture(scope="module")
def voice_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("voices")
    build_tiny_voice(directory)
    return directory


@pytest.fixture(scope="module")
def tts_server() -> Iterator[FakeTTSServer]:
    with fake_tts_server() as server:
        yield server


@pytest.fixture
def server() -> Iterator[FakeTTSServer]:
    """A fresh server per test, for tests that change its mode."""
    with fake_tts_server() as srv:
        yield srv


def http_engine(srv: FakeTTSServer, **config: object) -> Engine:
    options: dict[str, object] = {"url": srv.url, "api_key": srv.api_key, "voices": ["banmai"]}
    options.update(config)
    return get_engine("http", **options)


# --- The contract every engine keeps ------------------------------------------------------


@pytest.fixture(params=ENGINE_NAMES)
def engine(
    request: pytest.FixtureRequest, voice_dir: Path, tts_server: FakeTTSServer
) -> tuple[Engine, str]:
    tts_server.mode = "direct"
    if request.param == "espeak":
        return get_engine("espeak"), "vi"
    if request.param == "piper":
        return get_engine("piper", voice_dir=str(voice_dir)), "vi_tiny"
    return http_engine(tts_server), "banmai"


def _assert_good_clip(clip: Clip) -> None:
    assert isinstance(clip, Clip)
    assert clip.samples.dtype == np.float32
    assert clip.samples.ndim == 1
    assert clip.sample_rate > 0
    assert clip.duration > 0.2
    assert np.all(np.isfinite(clip.samples))
    assert np.max(np.abs(clip.samples)) <= 1.0
    assert float(np.sqrt(np.mean(clip.samples.astype(np.float64) ** 2))) > 1e-3


class TestEngineContract:
    def test_is_an_engine(self, engine: tuple[Engine, str]) -> None:
        eng, _ = engine
        assert isinstance(eng, Engine)
        assert eng.name in ENGINE_NAMES

    def test_voices(self, engine: tuple[Engine, str]) -> None:
        eng, voice = engine
        voices = eng.voices()
        assert voices
        assert all(v.id and v.name for v in voices)
        assert voice in {v.id for v in voices}

    def test_synthesize(self, engine: tuple[Engine, str]) -> None:
        eng, voice = engine
        _assert_good_clip(eng.synthesize(HELLO, voice=voice, rate=180))

    def test_longer_text_longer_clip(self, engine: tuple[Engine, str]) -> None:
        eng, voice = engine
        short = eng.synthesize(HELLO, voice=voice)
        long = eng.synthesize(LONGER, voice=voice)
        assert long.duration > short.duration * 1.5

    def test_faster_rate_shorter_clip(self, engine: tuple[Engine, str]) -> None:
        eng, voice = engine
        slow = eng.synthesize(LONGER, voice=voice, rate=130)
        fast = eng.synthesize(LONGER, voice=voice, rate=250)
        assert fast.duration < slow.duration * 0.8

    def test_deterministic(self, engine: tuple[Engine, str]) -> None:
        eng, voice = engine
        a = eng.synthesize(HELLO, voice=voice)
        b = eng.synthesize(HELLO, voice=voice)
        assert a.sample_rate == b.sample_rate
        assert np.array_equal(a.samples, b.samples)

    def test_unknown_voice(self, engine: tuple[Engine, str]) -> None:
        eng, _ = engine
        with pytest.raises(EngineError) as info:
            eng.synthesize(HELLO, voice="khong-co-giong-nay")
        assert info.value.code == "voice_not_found"

    def test_text_empty(self, engine: tuple[Engine, str]) -> None:
        eng, voice = engine
        with pytest.raises(EngineError) as info:
            eng.synthesize("   ", voice=voice)
        assert info.value.code == "text_empty"

    def test_fingerprint(self, engine: tuple[Engine, str]) -> None:
        eng, voice = engine
        first = eng.fingerprint(voice)
        assert isinstance(first, str)
        assert first
        assert eng.fingerprint(voice) == first


# --- Registry ------------------------------------------------------------------------------


def test_unknown_engine() -> None:
    with pytest.raises(EngineError) as info:
        get_engine("festival")
    assert info.value.code == "unknown_engine"
    assert info.value.params == {"name": "festival"}


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(EngineError) as info:
        get_engine("piper", voice_directory="/srv/voices")
    assert info.value.code == "engine_misconfigured"
    with pytest.raises(EngineError) as info:
        get_engine("http", url="http://x", timeout="soon")
    assert info.value.params["setting"] == "timeout"


def test_every_error_code_is_documented() -> None:
    used: set[str] = set()
    for path in ENGINES_DIR.glob("*.py"):
        used |= set(re.findall(r'EngineError\(\s*"([a-z_]+)"', path.read_text(encoding="utf-8")))
    assert used
    assert used <= set(ERROR_CODES), used - set(ERROR_CODES)
    doc = (ENGINES_DIR.parents[2] / "docs" / "speech-engines.md").read_text(encoding="utf-8")
    assert all(f"`{code}`" in doc for code in ERROR_CODES)


# --- espeak-ng -----------------------------------------------------------------------------

# Sentences not used for the calibration itself (docs/speech-engines.md).
RATE_SENTENCES = [
    "Sáng mai trạm y tế xã tổ chức khám sức khỏe miễn phí cho người cao tuổi.",
    "Đề nghị các thôn trưởng thông báo rộng rãi đến từng hộ dân.",
    "Nước lũ đang lên nhanh, bà con không đi qua ngầm tràn.",
    "Chương trình phát thanh của xã xin tạm dừng tại đây.",
]


def _syllables_per_minute(eng: Engine, voice: str, rate: int) -> float:
    syllables = sum(len(s.split()) for s in RATE_SENTENCES)
    seconds = sum(eng.synthesize(s, voice=voice, rate=rate).duration for s in RATE_SENTENCES)
    return syllables / seconds * 60


@pytest.mark.parametrize("voice", ["vi", "vi-VN-x-central", "vi-VN-x-south"])
def test_espeak_rate_is_calibrated(voice: str) -> None:
    eng = get_engine("espeak")
    assert 160 <= _syllables_per_minute(eng, voice, 180) <= 200
    assert _syllables_per_minute(eng, voice, 250) > _syllables_per_minute(eng, voice, 180)


def test_espeak_slowest_and_fastest_rates() -> None:
    eng = get_engine("espeak")
    assert 85 <= _syllables_per_minute(eng, "vi", 100) <= 115
    assert 260 <= _syllables_per_minute(eng, "vi", 300) <= 340


def test_espeak_speed_mapping_is_monotonic() -> None:
    settings = [espeak_speed(r) for r in range(100, 301, 5)]
    wpms = [w for w, _ in settings]
    gaps = [g for _, g in settings]
    assert wpms == sorted(wpms)
    assert gaps == sorted(gaps, reverse=True)
    assert espeak_speed(10) == espeak_speed(100)  # clamped to MIN_RATE
    assert [c[2] for c in CALIBRATION] == sorted(c[2] for c in CALIBRATION)


def test_espeak_voices_are_regional_and_all_speak() -> None:
    eng = get_engine("espeak")
    assert {v.region for v in eng.voices()} == {"north", "central", "south"}
    clips = {v.id: eng.synthesize(HELLO, voice=v.id) for v in eng.voices()}
    for clip in clips.values():
        _assert_good_clip(clip)
    assert len({len(c.samples) for c in clips.values()}) == 3  # three different voices


def test_espeak_trims_silence() -> None:
    clip = get_engine("espeak").synthesize(HELLO, voice="vi")
    edge = int(clip.sample_rate * 0.05)
    assert np.max(np.abs(clip.samples[:edge])) > 0.01
    assert np.max(np.abs(clip.samples[-edge:])) > 0.01


def test_espeak_fingerprint_has_version() -> None:
    version = espeak_version()
    assert re.match(r"\d+\.\d+", version)
    assert version in get_engine("espeak").fingerprint("vi")


def test_espeak_is_thread_safe() -> None:
    eng = get_engine("espeak")
    texts = [HELLO, LONGER, RATE_SENTENCES[0], RATE_SENTENCES[1]] * 3
    expected = [eng.synthesize(t, voice="vi").samples for t in texts]
    results: list[np.ndarray | None] = [None] * len(texts)

    def work(i: int) -> None:
        results[i] = get_engine("espeak").synthesize(texts[i], voice="vi").samples

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected, strict=True):
        assert got is not None
        assert np.array_equal(got, want)


# --- Piper ---------------------------------------------------------------------------------


def test_piper_lists_only_valid_pairs(voice_dir: Path, tmp_path: Path) -> None:
    build_tiny_voice(tmp_path, "good")
    (tmp_path / "no_config.onnx").write_bytes((voice_dir / "vi_tiny.onnx").read_bytes())
    (tmp_path / "bad_json.onnx").write_bytes((voice_dir / "vi_tiny.onnx").read_bytes())
    (tmp_path / "bad_json.onnx.json").write_text("{not json", encoding="utf-8")
    build_tiny_voice(tmp_path, "not_onnx")
    (tmp_path / "not_onnx.onnx").write_bytes(b"<html>404</html>")
    (tmp_path / "binary_json.onnx").write_bytes((voice_dir / "vi_tiny.onnx").read_bytes())
    (tmp_path / "binary_json.onnx.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "dir_json.onnx").write_bytes((voice_dir / "vi_tiny.onnx").read_bytes())
    (tmp_path / "dir_json.onnx.json").mkdir()  # unreadable as a file (works as root too)
    (tmp_path / "dir_model.onnx").mkdir()
    (tmp_path / "dir_model.onnx.json").write_bytes((voice_dir / "vi_tiny.onnx.json").read_bytes())
    assert [v.id for v in PiperEngine(tmp_path).voices()] == ["good"]
    assert PiperEngine("").voices() == []
    assert PiperEngine(tmp_path / "missing").voices() == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_piper_skips_unreadable_files(tmp_path: Path) -> None:
    build_tiny_voice(tmp_path, "locked")
    (tmp_path / "locked.onnx.json").chmod(0)
    assert PiperEngine(tmp_path).voices() == []


def test_piper_corrupted_model_is_invalid(tmp_path: Path) -> None:
    onnx = build_tiny_voice(tmp_path, "broken")
    onnx.write_bytes(b"\x08" + os.urandom(300))  # looks like ONNX from outside, is not
    with pytest.raises(EngineError) as info:
        PiperEngine(tmp_path).synthesize(HELLO, voice="broken")
    assert info.value.code == "voice_invalid"
    assert info.value.params["voice"] == "broken"
    assert info.value.params["reason"]


def test_piper_missing_voice(tmp_path: Path) -> None:
    build_tiny_voice(tmp_path, "only_model")
    (tmp_path / "only_model.onnx.json").unlink()
    eng = PiperEngine(tmp_path)
    for voice in ("nope", "only_model", "../voices/vi_tiny", ""):
        with pytest.raises(EngineError) as info:
            eng.synthesize(HELLO, voice=voice)
        assert info.value.code == "voice_not_found"
    with pytest.raises(EngineError) as info:
        PiperEngine("").synthesize(HELLO, voice="vi_tiny")
    assert info.value.code == "voice_not_found"


def test_piper_replaced_files_change_fingerprint_and_reload(tmp_path: Path) -> None:
    onnx = build_tiny_voice(tmp_path, "v")
    eng = PiperEngine(tmp_path)
    before = eng.fingerprint("v")
    assert re.search(r"[0-9a-f]{64}", before)
    first = eng.synthesize(LONGER, voice="v")

    config = onnx.with_name("v.onnx.json")
    config.write_text(
        config.read_text(encoding="utf-8").replace('"length_scale": 1.0', '"length_scale": 1.5'),
        encoding="utf-8",
    )
    stat = config.stat()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    after = eng.fingerprint("v")
    assert after != before
    assert eng.fingerprint("v") == after
    second = eng.synthesize(LONGER, voice="v")  # the new config was loaded
    assert second.duration == pytest.approx(first.duration * 1.5, rel=0.02)


def test_piper_rate_maps_to_length_scale(voice_dir: Path) -> None:
    eng = PiperEngine(voice_dir)
    at_180 = eng.synthesize(LONGER, voice="vi_tiny", rate=180).duration
    at_270 = eng.synthesize(LONGER, voice="vi_tiny", rate=270).duration
    assert at_270 == pytest.approx(at_180 * 180 / 270, rel=0.02)


def test_piper_noise_is_what_determinism_removes(voice_dir: Path) -> None:
    lively = PiperEngine(voice_dir, deterministic=False)
    a = lively.synthesize(HELLO, voice="vi_tiny")
    b = lively.synthesize(HELLO, voice="vi_tiny")
    assert not np.array_equal(a.samples, b.samples)  # the tiny voice really has noise
    assert lively.fingerprint("vi_tiny") != PiperEngine(voice_dir).fingerprint("vi_tiny")


def test_piper_threads_share_one_loaded_voice(voice_dir: Path) -> None:
    eng = PiperEngine(voice_dir)
    want = eng.synthesize(LONGER, voice="vi_tiny").samples
    results: list[bool] = []

    def work() -> None:
        got = PiperEngine(voice_dir).synthesize(LONGER, voice="vi_tiny").samples
        results.append(bool(np.array_equal(got, want)))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 8


# --- HTTP ----------------------------------------------------------------------------------


def _code(eng: Engine, text: str = HELLO, voice: str = "banmai") -> EngineError:
    with pytest.raises(EngineError) as info:
        eng.synthesize(text, voice=voice)
    return info.value


def test_http_request_shape(server: FakeTTSServer) -> None:
    http_engine(server).synthesize(HELLO, voice="banmai", rate=250)
    sent = server.requests[-1]
    assert sent["json"] == {"text": HELLO, "voice": "banmai", "speed": 1.39, "format": "wav"}
    assert sent["headers"]["Authorization"] == f"Bearer {server.api_key}"
    assert sent["headers"]["Content-Type"].startswith("application/json")


def test_http_raw_key_header(server: FakeTTSServer) -> None:
    server.key_header = "api-key"
    clip = http_engine(server, key_header="api-key").synthesize(HELLO, voice="banmai")
    _assert_good_clip(clip)
    headers = {k.lower(): v for k, v in server.requests[-1]["headers"].items()}
    assert headers["api-key"] == server.api_key
    assert "authorization" not in headers


def test_http_direct_audio_decodes_exactly(server: FakeTTSServer) -> None:
    clip = http_engine(server).synthesize(HELLO, voice="banmai")
    assert clip.sample_rate == 16_000
    expected = decode_audio(make_wav(HELLO, 1.0))
    assert abs(len(clip.samples) - len(expected.samples)) < 0.03 * 16_000  # trimmed edges only


def test_http_octet_stream(server: FakeTTSServer) -> None:
    server.mode = "octet"
    _assert_good_clip(http_engine(server).synthesize(HELLO, voice="banmai"))


def test_http_async_url_retries_404(server: FakeTTSServer) -> None:
    server.mode = "async"
    direct = http_engine(server).synthesize(LONGER, voice="banmai")
    gets = [r for r in server.requests if "get" in r]
    assert len(gets) == 3  # 404, 404, audio
    assert gets[0]["headers"]["Authorization"] == f"Bearer {server.api_key}"  # same origin
    server.mode = "direct"
    assert np.array_equal(
        direct.samples, http_engine(server).synthesize(LONGER, voice="banmai").samples
    )


def test_http_async_key_not_sent_to_other_origin(server: FakeTTSServer) -> None:
    with fake_tts_server(api_key="other") as cdn:
        cdn.mode = "async"
        cdn.not_ready_times = 0
        cdn.key_ok = lambda headers: True  # type: ignore[method-assign]
        # The service's answer names a URL on another host (a "CDN"): no key goes there.
        eng = HttpEngine(url=server.url, api_key=server.api_key, voices=["banmai"])
        job_url = cdn.url  # POST to the CDN once to create a job there
        HttpEngine(url=job_url, api_key="k", voices=["banmai"]).synthesize(HELLO, voice="banmai")
        audio_url = cdn.url.replace("/v1/tts", "/audio/job0.wav")
        eng._fetch_rendered(audio_url, time.monotonic() + 5)
        get = [r for r in cdn.requests if "get" in r][-1]
        assert "Authorization" not in get["headers"]


def test_http_async_never_ready_times_out(server: FakeTTSServer) -> None:
    server.mode = "async_never"
    start = time.monotonic()
    err = _code(http_engine(server, timeout=1.0))
    assert err.code == "service_unreachable"
    assert 0.8 < time.monotonic() - start < 2.5  # kept trying for (nearly) the whole timeout
    assert len([r for r in server.requests if "get" in r]) >= 4


@pytest.mark.parametrize(
    ("mode", "code"), [("status:401", "service_auth"), ("status:403", "service_auth")]
)
def test_http_auth_statuses(server: FakeTTSServer, mode: str, code: str) -> None:
    server.mode = mode
    assert _code(http_engine(server)).code == code


def test_http_wrong_key(server: FakeTTSServer) -> None:
    err = _code(http_engine(server, api_key="sk-wrong-KEY-999"))
    assert err.code == "service_auth"
    assert "sk-wrong-KEY-999" not in str(err)


@pytest.mark.parametrize("status", [400, 429, 500, 503])
def test_http_error_statuses(server: FakeTTSServer, status: int) -> None:
    server.mode = f"status:{status}"
    err = _code(http_engine(server))
    assert err.code == "service_error"
    assert err.params == {"status": status}


def test_http_slow_service_times_out(server: FakeTTSServer) -> None:
    server.mode = "slow"
    server.slow_seconds = 3.0
    start = time.monotonic()
    err = _code(http_engine(server, timeout=0.5))
    assert err.code == "service_unreachable"
    assert time.monotonic() - start < 2.0


def test_http_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    eng = get_engine("http", url=f"http://127.0.0.1:{port}/tts", api_key="k", voices=["a"])
    err = _code(eng, voice="a")
    assert err.code == "service_unreachable"
    assert err.params == {"url": f"http://127.0.0.1:{port}/tts"}


@pytest.mark.parametrize("mode", ["garbage", "json_no_url"])
def test_http_bad_audio(server: FakeTTSServer, mode: str) -> None:
    server.mode = mode
    assert _code(http_engine(server)).code == "service_bad_audio"


def test_http_key_never_leaks(server: FakeTTSServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = server.api_key
    url_with_key = f"{server.url}?key={key}"
    errors = []
    for mode in ("status:401", "status:500", "async_never", "garbage"):
        server.mode = mode
        errors.append(_code(http_engine(server, url=url_with_key, timeout=0.6)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = HttpEngine(url=f"http://u:{key}@127.0.0.1:{port}/?k={key}", api_key=key, voices=["a"])
    errors.append(_code(refused, voice="a"))
    for err in errors:
        assert key not in str(err)
        assert key not in repr(err.params)
        assert key not in repr(err.__cause__)
    assert key not in caplog.text
    assert key not in http_engine(server, url=url_with_key).fingerprint("banmai")
    assert key not in repr(http_engine(server))


def test_http_fingerprint_names_endpoint_and_voice(server: FakeTTSServer) -> None:
    fp = http_engine(server).fingerprint("banmai")
    assert server.url in fp
    assert "banmai" in fp
    assert fp != http_engine(server).fingerprint("leminh")


def test_http_voices_from_settings(server: FakeTTSServer) -> None:
    assert [v.id for v in http_engine(server, voices="banmai, leminh").voices()] == [
        "banmai",
        "leminh",
    ]
    open_engine = http_engine(server, voices=[])
    assert open_engine.voices() == []
    _assert_good_clip(open_engine.synthesize(HELLO, voice="anything"))  # the service decides
