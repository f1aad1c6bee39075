"""Load, hostile inputs and the accounting that proves nothing was lost (docs/guarantees.md)."""
