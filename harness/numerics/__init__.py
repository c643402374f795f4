"""Dtypes, padding, layouts and the float64 oracle with its error bound: knows no Case."""
