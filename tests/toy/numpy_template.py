"""The toy framework's script template: the adapter's very calls, standalone."""
from __future__ import annotations

import inspect

import numpy as np

from harness.api import layouts
from harness.tools.repro.templates.code import Code, Request, block
from tests.toy import naive

INFO = block('''
    def framework_info():
        return [("numpy (the toy framework)", np.__version__)]
''')


def toy(req: Request) -> Code:
    case = req.case
    if req.grad != "y":
        raise ValueError("the toy framework computes y only")
    first = layouts.data_formats(case.rank)[1]
    filt = layouts.filter_formats(case.rank)[1]
    x = layouts.convert(req.inputs.x, case.data_format, first)
    w = layouts.convert(req.inputs.w, case.filter_format, filt)
    compute = block(f'''
        def compute():
            return conv(X, W, {tuple(case.strides)!r}, {[tuple(p) for p in case.pads]!r},
                        {tuple(case.dilations)!r})
    ''')
    return Code(framework="numpy", pip="numpy", calls="naive NumPy loops over the taps",
                imports="import itertools\n", output_layout=first, compute=compute,
                info=INFO, helpers=inspect.getsource(naive.conv),
                arrays=[("X", np.ascontiguousarray(x), f"x, laid out {first}"),
                        ("W", np.ascontiguousarray(w), f"w, laid out {filt}")])


TEMPLATES = {"toy.numpy": toy}
