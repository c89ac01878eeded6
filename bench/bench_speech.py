"""Benchmark: a 500-word bulletin through the whole speech pipeline, against the bare engine.

Targets (issue: Vietnamese speech): the pipeline's real-time factor (processing seconds / audio
seconds) at most 0.01 with espeak-ng, and the pipeline at most 5 x the bare engine's synthesis
time, measured in one run.

- "bare engine": every sentence of the normalised text through `engine.synthesize`, nothing else
  (what any product would have to pay for the voice itself);
- "pipeline": reading text -> normalise -> sentences -> synthesise -> trim, resample to 48 kHz,
  join with pauses -> loudness normalisation with the true-peak limiter -> MP3 and Opus -> decode
  the MP3 and measure what was made (the figures stored with the asset).

Each is run BENCH_SPEECH_REPS times (default 5) after one warm-up; medians are reported, with
the time of every stage of the pipeline. No database is needed: the pipeline is Django-free, but
the run goes through the same harness (scratch settings, JSON results in var/bench/speech.json).

    uv run python bench/bench_speech.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from harness import ROOT, Report, run_main

REPS = int(os.environ.get("BENCH_SPEECH_REPS", "5"))
RTF_TARGET = 0.01
RATIO_TARGET = 5.0

PARAGRAPHS = [
    "Thực hiện Kế hoạch số 125/KH-UBND ngày 15/3/2026 của UBND tỉnh về phòng, chống thiên tai "
    "năm 2026, UBND xã thông báo đến toàn thể nhân dân như sau.",
    "Theo Trung tâm Dự báo khí tượng thủy văn quốc gia, hồi 13h00 ngày 20/10/2026, vị trí tâm "
    "bão số 6 ở vào khoảng 16,5 độ Vĩ Bắc; 110,2 độ Kinh Đông, sức gió mạnh nhất vùng gần tâm "
    "bão mạnh cấp 11, giật cấp 13. Dự báo trong 24 giờ tới, bão di chuyển theo hướng Tây, mỗi "
    "giờ đi được 15-20km. Từ đêm nay đến hết ngày 22/10, khu vực xã có mưa to đến rất to với "
    "lượng mưa phổ biến 150-250mm, có nơi trên 350mm.",
    "Đề nghị các hộ gia đình chủ động gia cố nhà cửa, chặt tỉa cây xanh, thu hoạch lúa và hoa "
    "màu đã chín theo phương châm xanh nhà hơn già đồng. Tuyệt đối không ra khơi, không đi qua "
    "ngầm tràn khi nước lũ dâng cao. Các thôn 1, 2, 3 và 5 chuẩn bị phương án sơ tán 1.250 hộ "
    "với khoảng 4.800 nhân khẩu đến các điểm an toàn đã được bố trí.",
    "Về công tác hỗ trợ, HĐND xã đã thống nhất trích 350.000.000 đồng từ ngân sách dự phòng "
    "để mua lương thực, nước uống và thuốc men dự trữ. Mỗi hộ nghèo được hỗ trợ 1.500.000 đồng "
    "và 20kg gạo. Giá phân bón tại các đại lý được niêm yết không quá 12.500 đồng/kg; mọi "
    "trường hợp găm hàng, tăng giá xin báo về đường dây nóng 0234 3822 115.",
    "Trạm y tế xã tổ chức tiêm vắc xin phòng bệnh sởi cho trẻ em từ 9 tháng đến 5 tuổi, từ 7h30 "
    "đến 11h00 các ngày thứ 2, thứ 4 và thứ 6 hằng tuần. Tỷ lệ tiêm chủng đầy đủ năm 2025 của "
    "xã đạt 96,5%, cao hơn 2,3% so với cùng kỳ. Phụ huynh mang theo sổ tiêm chủng và CCCD.",
    "Thực hiện Nghị định số 49/2024/NĐ-CP của Chính phủ về hoạt động thông tin cơ sở, từ ngày "
    "01/11/2026, bản tin của xã được phát trên hệ thống loa truyền thanh vào lúc 6h00 và 17h30 "
    "hằng ngày, đồng thời đăng tải trên cổng thông tin điện tử tại địa chỉ "
    "www.xaphuocthanh.gov.vn. "
    "Ý kiến phản ánh của bà con xin gửi về hộp thư tiepdan@phuocthanh.gov.vn.",
    "Đại hội Đoàn TNCS Hồ Chí Minh xã lần thứ XV, nhiệm kỳ 2026-2031 sẽ diễn ra trong 2 ngày "
    "25 và 26/11/2026 tại hội trường UBND xã, với sự tham dự của 120 đại biểu chính thức. "
    "Ban Chấp hành khóa XIV đã hoàn thành 18/20 chỉ tiêu, trong đó 5 chỉ tiêu vượt kế hoạch.",
    "Cuối cùng, UBND xã đề nghị các thôn, tổ dân phố, HTX nông nghiệp và các đoàn thể tiếp tục "
    "tuyên truyền sâu rộng để bà con nắm rõ, chủ động ứng phó, bảo đảm an toàn tính mạng và tài "
    "sản. Mọi thông tin cần thiết xin liên hệ Ban Chỉ huy phòng chống thiên tai và tìm kiếm cứu "
    "nạn xã, số điện thoại 0912.345.678, hoặc ông Nguyễn Văn An, Phó Chủ tịch UBND xã.",
]


def _bulletin_text(words: int = 500) -> str:
    paragraphs: list[str] = []
    count = 0
    while count < words:
        for paragraph in PARAGRAPHS:
            paragraphs.append(paragraph)
            count += len(paragraph.split())
            if count >= words:
                break
    return "\n\n".join(paragraphs)


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def body(report: Report) -> None:
    from thongtincoso.speech import dsp, pipeline
    from thongtincoso.speech.engines import get_engine
    from thongtincoso.speech.normalizer import ReadingOptions

    text = _bulletin_text()
    engine = get_engine("espeak")
    voice, rate = "vi", 180
    script = pipeline.prepare_script(text, ReadingOptions())
    sentences = script.sentences

    def bare() -> float:
        audio = 0.0
        for sentence in sentences:
            audio += engine.synthesize(sentence, voice=voice, rate=rate).duration
        return audio

    stages: dict[str, list[float]] = {}

    def timed(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        stages.setdefault(name, []).append(time.perf_counter() - start)
        return result

    def whole() -> tuple[float, pipeline.Rendered]:
        prepared = timed("normalise + split", pipeline.prepare_script, text, ReadingOptions())
        speech = timed(
            "synthesise + trim + resample + join",
            pipeline.synthesise,
            prepared,
            engine,
            voice=voice,
            rate=rate,
        )
        rendered = timed("loudness, encode, verify", pipeline.finish, speech, target_lufs=-16.0)
        return rendered.loudness.duration, rendered

    bare()
    whole()  # warm-up: libraries loaded, caches filled
    stages.clear()
    bare_times, pipe_times = [], []
    audio_seconds = 0.0
    rendered = None
    for _ in range(REPS):
        start = time.perf_counter()
        bare()
        bare_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        audio_seconds, rendered = whole()
        pipe_times.append(time.perf_counter() - start)
    assert rendered is not None

    # The finishing stage split further, on the same programme (one more run of each part).
    programme = pipeline.synthesise(script, engine, voice=voice, rate=rate)
    finish_parts: dict[str, float] = {}
    start = time.perf_counter()
    normalised = dsp.normalize_loudness(programme)
    finish_parts["loudness normalisation + limiter"] = time.perf_counter() - start
    parts: tuple[tuple[str, Callable[[], object]], ...] = (
        ("MP3 encode (24 kHz, 64 kbit/s)", lambda: dsp.encode_mp3(normalised)),
        ("Opus encode (48 kHz, 32 kbit/s)", lambda: dsp.encode_opus(normalised)),
        ("decode MP3 + measure (measure_encoded)", lambda: dsp.measure_encoded(rendered.mp3)),
    )
    for name, fn in parts:
        start = time.perf_counter()
        fn()
        finish_parts[name] = time.perf_counter() - start

    bare_s, pipe_s = _median(bare_times), _median(pipe_times)
    rtf = pipe_s / audio_seconds
    ratio = pipe_s / bare_s
    words = len(text.split())
    report.row(
        f"bare engine (espeak-ng, {len(sentences)} sentences)",
        f"{bare_s:.3f} s",
        f"RTF {bare_s / audio_seconds:.4f}",
        "-",
        f"{audio_seconds / bare_s:.0f}x real time",
    )
    report.row(
        f"whole pipeline ({words} words, {audio_seconds:.1f} s of audio)",
        f"{pipe_s:.3f} s",
        f"RTF {rtf:.4f}",
        "-",
        f"{ratio:.2f}x the bare engine",
    )
    for name, samples in stages.items():
        report.row(f"  stage: {name}", f"{_median(samples):.3f} s", "", "-", "")
    for name, seconds in finish_parts.items():
        report.row(f"    part: {name}", f"{seconds:.3f} s", "", "-", "")
    loud = rendered.loudness
    report.row(
        "  (parts are timed one after the other; the pipeline runs Opus beside MP3 + measure)",
        "",
        "",
        "-",
        "",
    )
    report.row(
        "result",
        f"{loud.integrated_lufs:.2f} LUFS",
        f"{loud.true_peak_dbtp:.2f} dBTP",
        "-",
        f"MP3 {len(rendered.mp3) / 1e6:.2f} MB, Opus {len(rendered.opus) / 1e6:.2f} MB",
    )
    report.check(f"real-time factor {rtf:.4f} <= {RTF_TARGET}", rtf <= RTF_TARGET)
    report.check(f"pipeline / bare engine {ratio:.2f} <= {RATIO_TARGET}", ratio <= RATIO_TARGET)
    report.check("loudness within -16 +/- 0.5 LUFS", abs(loud.integrated_lufs + 16) <= 0.5)
    report.check("true peak <= -1.5 dBTP", loud.true_peak_dbtp <= -1.5)
    report.results.update(
        {
            "words": words,
            "sentences": len(sentences),
            "syllables": script.syllables,
            "audio_seconds": round(audio_seconds, 2),
            "bare_engine_s": round(bare_s, 4),
            "pipeline_s": round(pipe_s, 4),
            "real_time_factor": round(rtf, 5),
            "pipeline_over_engine": round(ratio, 3),
            "stages_s": {k: round(_median(v), 4) for k, v in stages.items()},
            "finish_parts_s": {k: round(v, 4) for k, v in finish_parts.items()},
            "integrated_lufs": round(loud.integrated_lufs, 2),
            "true_peak_dbtp": round(loud.true_peak_dbtp, 2),
            "repetitions": REPS,
        }
    )


def title(env: dict[str, Any]) -> str:
    return (
        f"Speech pipeline, 500-word bulletin, espeak-ng voice vi at 180 syllables/min "
        f"(Python {env['python']}, {env['cpus_usable']} CPUs, {env['cpu_model']})"
    )


if __name__ == "__main__":
    sys.exit(
        run_main(
            title,
            body,
            ROOT / "var" / "bench" / "speech.json",
            columns=("Case", "Time", "Real-time factor", "-", "Result"),
            database_details=False,
        )
    )
