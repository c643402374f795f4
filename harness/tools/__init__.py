"""Built on a session and a record: standalone repro scripts, shrink, fuzz, cases-from."""
