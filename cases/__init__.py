"""The bundled case suites, installed as the package data ``harness.suites``
(see harness/bundled.py): YAML files only; this file makes the folder a package."""
