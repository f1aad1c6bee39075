"""Patches applied to LocalStack's providers at infrastructure start (see pyproject entry points)."""
