"""An --impl-module that raises while it is imported (its message holds escapes)."""
raise RuntimeError("planted import failure \x1b[31m\x1b]0;pwned\x07 \u202eevil")
