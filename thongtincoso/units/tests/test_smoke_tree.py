from thongtincoso.units.models import Unit


def test_tree_fixture_paths(tree):
    assert set(Unit.objects.subtree_of(tree.hanoi).values_list("code", flat=True)) == {
        "01",
        "00070",
        "00073",
        "00070.001",
    }
