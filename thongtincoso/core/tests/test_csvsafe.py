from thongtincoso.core.csvsafe import safe_cell, safe_row


def test_text_that_a_spreadsheet_would_evaluate_is_neutralised():
    assert safe_cell('=HYPERLINK("http://x","bấm")') == '\'=HYPERLINK("http://x","bấm")'
    assert safe_row(["+1", "-cmd", "@SUM(A1)", "\t=1", "Đài xã Hoàn Kiếm", -3, 2.5, None]) == [
        "'+1",
        "'-cmd",
        "'@SUM(A1)",
        "'\t=1",
        "Đài xã Hoàn Kiếm",
        -3,
        2.5,
        None,
    ]
