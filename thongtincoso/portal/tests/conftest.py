from thongtincoso.bulletins.tests.factories import staff  # noqa: F401  (fixture)
