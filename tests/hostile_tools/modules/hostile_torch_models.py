"""torch modules for ``convgrad cases-from``: names and behaviour a model file chooses."""
import torch.nn as nn

INJECTED = ("c\n- id: injected-case\n  op: conv1d\n  grads: [y]\n  input_size: [4]\n"
            "  kernel_size: [2]\n  x: {random: normal}\n  w: {random: normal}\n#")


def newline_names():
    """A reflect-padded conv (a note in the file's header) and a plain one, both named with
    newlines and a YAML case."""
    m = nn.Sequential()
    m.add_module(INJECTED, nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"))
    m.add_module(INJECTED.replace("c\n", "d\n"), nn.Conv2d(4, 4, 3))
    return m


def escape_names():
    m = nn.Sequential()
    m.add_module("e\x1b[31m\x1b]0;pwned\x07\u202eevil", nn.Conv2d(3, 4, 3, padding=1,
                                                               padding_mode="circular"))
    m.add_module("f\x1b[2J", nn.Conv2d(4, 4, 3))
    return m


class Raising(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        raise RuntimeError("planted: forward fails \x1b[31m")


def raises_forward():
    return Raising()


def long_name():
    m = nn.Sequential(nn.Conv2d(3, 4, 3))
    m.name = "a" * 300
    return m


def plain():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3))
