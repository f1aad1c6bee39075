"""Operator tools (not shipped with the collection): run with `python -m tools.imgops`."""
