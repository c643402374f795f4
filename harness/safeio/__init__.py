"""Reading what users name (files, YAML with line numbers), printable text, and the atomic output set."""
