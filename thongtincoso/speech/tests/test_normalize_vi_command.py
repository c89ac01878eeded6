"""The real `manage.py normalize_vi` command, run in a subprocess as a filter would be."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from thongtincoso.speech.tests.test_normalizer import CORPUS

REPO = Path(__file__).resolve().parents[3]


def run_command(stdin: bytes, *arguments: str) -> subprocess.CompletedProcess[bytes]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    return subprocess.run(  # noqa: S603 - fixed arguments, our own interpreter
        [sys.executable, "manage.py", "normalize_vi", *arguments],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        env=environment,
        timeout=120,
        check=False,
    )


def command_arguments(options: str) -> list[str] | None:
    """Corpus options as command-line arguments; None for options the command cannot express."""
    arguments = []
    for item in filter(None, options.split(";")):
        name, value = item.split("=", 1)
        if name not in {"thousand", "odd"}:
            return None  # a unit's own abbreviations: not a command option (yet)
        arguments += [f"--{name}", value]
    return arguments


def corpus_groups() -> dict[str, list[tuple[str, str, str]]]:
    groups: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for row_id, _, text, expected, options in CORPUS:
        if command_arguments(options) is not None:
            groups[options].append((row_id, text, expected))
    return groups


@pytest.mark.parametrize("options", sorted(corpus_groups()))
def test_whole_corpus_through_the_command(options: str) -> None:
    rows = corpus_groups()[options]
    stdin = "".join(f"{text}\n" for _, text, _ in rows).encode("utf-8")
    result = run_command(stdin, *(command_arguments(options) or []))
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode("utf-8").split("\n")
    assert lines[-1] == ""  # every line ends with a newline
    assert len(lines) - 1 == len(rows)
    mismatches = [
        (row_id, expected, got)
        for (row_id, _, expected), got in zip(rows, lines, strict=False)
        if got != expected
    ]
    assert not mismatches


def test_empty_lines_stay_empty_lines() -> None:
    result = run_command("Năm 2024\n\n\nCó 5 hộ\n".encode())
    assert result.stdout.decode() == "Năm hai nghìn không trăm hai mươi tư\n\n\nCó năm hộ\n"


def test_invalid_utf8_is_dropped_with_a_warning() -> None:
    stdin = "Dòng 1\n".encode() + b"C\xc3 \xff5 h\xe1\xbb\x99\n" + "Dòng 3\n".encode()
    result = run_command(stdin)
    assert result.returncode == 0
    assert result.stdout.decode() == "Dòng một\nC năm hộ\nDòng ba\n"
    assert "line 2" in result.stderr.decode()
    assert "line 1" not in result.stderr.decode()


def test_crlf_input() -> None:
    result = run_command("Ngày 20/4\r\nLúc 7h\r\n\r\n".encode())
    assert result.stdout.decode() == "Ngày hai mươi tháng tư\nLúc bảy giờ\n\n"


def test_carriage_return_inside_a_line_does_not_add_a_line() -> None:
    result = run_command("Tin 1\rTin 2\nHết\n".encode())
    assert result.stdout.decode() == "Tin một Tin hai\nHết\n"


def test_last_line_without_newline_and_southern_options() -> None:
    result = run_command("Năm 2005".encode(), "--thousand", "ngan", "--odd", "lẻ")
    assert result.stdout.decode() == "Năm hai ngàn không trăm lẻ năm\n"


def test_unknown_option_value_is_refused() -> None:
    result = run_command(b"", "--thousand", "ngin")
    assert result.returncode != 0
    assert "thousand" in result.stderr.decode()
