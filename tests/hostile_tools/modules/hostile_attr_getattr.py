"""An --impl-module whose impl raises (not AttributeError) for every attribute it lacks:
``getattr(impl, "variants", {})`` and the like meet a RuntimeError."""
from tests.planted import Planted


class BadGetattr(Planted):
    name = "mod.bad_getattr"

    def __getattr__(self, attr):
        raise RuntimeError(f"planted: no {attr} for you")


IMPLS = [BadGetattr()]
