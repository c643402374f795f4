"""The tools' hostile corpus (tests/test_hostile_tools.py): the shared runner and
classifier (runner.py), the inputs made at test time (makers.py), hostile plug-ins
(impls.py), user modules for --impl-module and cases-from (modules/), and a NumPy
framework with script templates (toyfw.py) so that repro, shrink and fuzz write
standalone scripts without TensorFlow, PyTorch or JAX."""
