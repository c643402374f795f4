"""An --impl-module whose IMPLS is a sequence that raises when it is iterated."""


class Exploding:
    def __iter__(self):
        raise RuntimeError("planted: IMPLS cannot be listed")

    def __len__(self):
        return 1


IMPLS = Exploding()
