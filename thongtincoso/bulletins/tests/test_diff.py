"""Word-level revision differences (pure functions, no database)."""

from __future__ import annotations

from types import SimpleNamespace

from thongtincoso.bulletins.diff import (
    DELETE,
    EQUAL,
    INSERT,
    details_diff,
    revision_diff,
    word_diff,
)


def _rev(**kw):
    base = {"title": "", "summary": "", "body": "", "reading_text": "", "details": {}}
    return SimpleNamespace(**{**base, **kw})


def test_word_diff_marks_replaced_words_and_keeps_the_rest():
    chunks = word_diff("Tiêm chủng ngày 20/4", "Tiêm chủng ngày 21/4 tại trạm")
    assert "".join(c.text for c in chunks if c.op != INSERT) == "Tiêm chủng ngày 20/4"
    assert "".join(c.text for c in chunks if c.op != DELETE) == "Tiêm chủng ngày 21/4 tại trạm"
    assert chunks[0].op == EQUAL
    assert any(c.op == DELETE and c.text == "20" for c in chunks)
    assert any(c.op == INSERT and "21" in c.text for c in chunks)


def test_identical_texts_have_one_equal_chunk_and_empty_ones_none():
    assert [c.op for c in word_diff("a b", "a b")] == [EQUAL]
    assert word_diff("", "") == []
    assert [(c.op, c.text) for c in word_diff("", "mới")] == [(INSERT, "mới")]


def test_revision_diff_compares_body_as_text_and_lists_changed_details():
    old = _rev(
        title="Họp dân",
        body="<p>Họp lúc <strong>8 giờ</strong></p>",
        details={"priority": "normal", "targets": ["00070"], "autosave": False},
    )
    new = _rev(
        title="Họp dân",
        body="<p>Họp lúc <strong>9 giờ</strong></p>",
        details={"priority": "priority", "targets": ["00070", "00073"], "autosave": True},
    )
    diff = revision_diff(old, new)
    assert diff.changed
    by_field = {t.field: t for t in diff.texts}
    assert not by_field["title"].changed
    body = by_field["body"].chunks
    assert "<strong>" not in "".join(c.text for c in body)
    assert [c.text for c in body if c.op == DELETE] == ["8"]
    assert [c.text for c in body if c.op == INSERT] == ["9"]
    changes = {c.field: (c.old, c.new) for c in diff.details}
    assert changes == {
        "priority": ("normal", "priority"),
        "targets": ("00070", "00070, 00073"),
    }


def test_details_diff_ignores_equal_and_unknown_keys():
    assert details_diff({"tags": ["a"], "autosave": True}, {"tags": ["a"], "x": 1}) == []
