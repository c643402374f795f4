"""A case: its model, the op registry, fields, generators, values, the loader and the bundled suites."""
