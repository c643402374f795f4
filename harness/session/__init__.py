"""A run: the Session that judges cases with impls, case selection, and the one run configuration."""
