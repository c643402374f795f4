"""The command line and the pytest plugin: parse, build one run configuration, call a session or a tool."""
