from thongtincoso.core.search import fold


def test_fold_drops_diacritics_case_and_extra_spaces() -> None:
    assert fold("Đèn  ĐƯỜNG hỏng\n") == "den duong hong"
    assert fold("Phường Hoàn Kiếm") == "phuong hoan kiem"
    assert fold("") == ""
    # Decomposed input (from Word, from some phones) folds the same as composed.
    assert fold("Tie\u0302\u0301ng o\u0302\u0300n") == fold("Tiếng ồn") == "tieng on"
