"""An --impl-module that ends the process that imports it, with status 1."""
import sys

sys.exit(1)
