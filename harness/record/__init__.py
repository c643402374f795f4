"""The run record (results.json, values.npz): build, read, merge, diff."""
