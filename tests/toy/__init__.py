"""A toy framework (NumPy) added the way issue 19 says a framework is added: its adapter,
its script template and one line in harness.backend.frameworks.FRAMEWORKS."""
