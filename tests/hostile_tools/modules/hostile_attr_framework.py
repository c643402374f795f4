"""An --impl-module whose impl raises when its framework is read."""
from tests.planted import Planted


class BadFramework(Planted):
    name = "mod.bad_framework"

    @property
    def framework(self):
        raise RuntimeError("planted: no framework for you")


IMPLS = [BadFramework()]
