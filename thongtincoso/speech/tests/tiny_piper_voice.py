"""A minuscule Piper voice for tests: real ONNX with Piper's signature, no model download.

The graph takes Piper's inputs (`input` int64 [1, T] phoneme ids, `input_lengths` int64 [1],
`scales` float32 [3] = noise, length, noise_w) and outputs `output` float32 [1, 1, N]: a 220 Hz
sine of N = T × 256 × length_scale samples (so audio grows with the text and shrinks as the rate
rises), plus RandomNormalLike noise × noise_scale, like VITS, so determinism is testable.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import onnx
from onnx import TensorProto, helper

HOP = 256
SAMPLE_RATE = 22_050
LENGTH_SCALE = 1.0

_SAMPLE_TEXT = (
    "Xin chào bà con. Ủy ban nhân dân xã thông báo lịch tiêm phòng cho gia súc, gia cầm; "
    "thời gian từ bảy giờ sáng đến mười một giờ trưa! Địa điểm: nhà văn hóa thôn Đông? "
    "Trời hôm nay có mưa rào và dông rải rác, bà con chú ý phòng tránh sét đánh, lũ quét, "
    "sạt lở đất. Hội nông dân, phụ nữ, đoàn thanh niên, cựu chiến binh; khuyến nông; "
    "ngoài ra: xuống, người, nước, khỏe, thuở, quyết, nghĩa, giữ, ghế, rượu, chuyện, ơi."
)


def _phoneme_id_map() -> dict[str, list[int]]:
    """Piper's default IPA map, plus anything its phonemizer emits for sample Vietnamese."""
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP
    from piper.phonemize_espeak import EspeakPhonemizer

    id_map = {k: list(v) for k, v in DEFAULT_PHONEME_ID_MAP.items()}
    next_id = max(i for ids in id_map.values() for i in ids) + 1
    for sentence in EspeakPhonemizer().phonemize("vi", _SAMPLE_TEXT):
        for phoneme in sentence:
            if phoneme not in id_map:
                id_map[phoneme] = [next_id]
                next_id += 1
    return id_map


def _model() -> onnx.ModelProto:
    const = helper.make_tensor
    nodes = [
        helper.make_node("Shape", ["input"], ["shape"]),
        helper.make_node("Gather", ["shape", "one_i"], ["t_len"], axis=0),
        helper.make_node("Cast", ["t_len"], ["t_len_f"], to=TensorProto.FLOAT),
        helper.make_node("Gather", ["scales", "zero_i"], ["noise_scale"], axis=0),
        helper.make_node("Gather", ["scales", "one_i"], ["length_scale"], axis=0),
        helper.make_node("Mul", ["t_len_f", "hop"], ["frames"]),
        helper.make_node("Mul", ["frames", "length_scale"], ["n_f"]),
        helper.make_node("Floor", ["n_f"], ["n_floor"]),
        helper.make_node("Range", ["zero_f", "n_floor", "one_f"], ["t"]),
        helper.make_node("Mul", ["t", "omega"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["sine"]),
        helper.make_node("Mul", ["sine", "amp"], ["tone"]),
        helper.make_node("RandomNormalLike", ["tone"], ["noise"], scale=0.1),
        helper.make_node("Mul", ["noise", "noise_scale"], ["noise_scaled"]),
        helper.make_node("Add", ["tone", "noise_scaled"], ["audio"]),
        helper.make_node("Reshape", ["audio", "out_shape"], ["output"]),
    ]
    initializers = [
        const("zero_i", TensorProto.INT64, [], [0]),
        const("one_i", TensorProto.INT64, [], [1]),
        const("zero_f", TensorProto.FLOAT, [], [0.0]),
        const("one_f", TensorProto.FLOAT, [], [1.0]),
        const("hop", TensorProto.FLOAT, [], [float(HOP)]),
        const("omega", TensorProto.FLOAT, [], [2 * math.pi * 220.0 / SAMPLE_RATE]),
        const("amp", TensorProto.FLOAT, [], [0.5]),
        const("out_shape", TensorProto.INT64, [3], [1, 1, -1]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_piper",
        inputs=[
            helper.make_tensor_value_info("input", TensorProto.INT64, [1, "phonemes"]),
            helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
        ],
        outputs=[helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, "samples"])],
        initializer=initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="thongtincoso-tests"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def build_tiny_voice(directory: str | Path, name: str = "vi_tiny") -> Path:
    """Write `<name>.onnx` + `<name>.onnx.json` into `directory`; returns the .onnx path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    onnx_path = directory / f"{name}.onnx"
    onnx_path.write_bytes(_model().SerializeToString())
    id_map = _phoneme_id_map()
    config = {
        "dataset": name,
        "audio": {"sample_rate": SAMPLE_RATE, "quality": "x_low"},
        "espeak": {"voice": "vi"},
        "language": {"code": "vi_VN", "family": "vi", "region": "VN", "name_native": "Tiếng Việt"},
        "inference": {"noise_scale": 0.667, "length_scale": LENGTH_SCALE, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_id_map": id_map,
        "num_symbols": max(i for ids in id_map.values() for i in ids) + 1,
        "num_speakers": 1,
        "speaker_id_map": {},
        "piper_version": "1.0.0",
    }
    onnx_path.with_name(onnx_path.name + ".json").write_text(
        json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return onnx_path
