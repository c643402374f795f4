"""An --impl-module whose impl raises when its name is read."""
from tests.planted import Planted


class BadName(Planted):
    @property
    def name(self):
        raise RuntimeError("planted: no name for you")


IMPLS = [BadName()]
