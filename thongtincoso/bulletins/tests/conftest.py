from .factories import staff  # noqa: F401  (fixture)
