"""Patches applied to LocalStack's providers at infrastructure start (see the entry points in
emulator/pyproject.toml)."""
