"""An --impl-module that ends the process that imports it, with status 3."""
import sys

sys.exit(3)
