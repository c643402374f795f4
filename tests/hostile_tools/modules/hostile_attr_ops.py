"""An --impl-module whose impl raises when its ops (and version) are read."""
from tests.planted import Planted


class BadOps(Planted):
    name = "mod.bad_ops"

    @property
    def ops(self):
        raise RuntimeError("planted: no ops for you")

    def version(self):
        raise SystemExit(4)


IMPLS = [BadOps()]
