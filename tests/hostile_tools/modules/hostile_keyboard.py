"""An --impl-module that raises KeyboardInterrupt while it is imported: no user pressed
Ctrl-C."""
raise KeyboardInterrupt
