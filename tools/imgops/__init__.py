"""`python -m tools.imgops {dashboard,alerts,upload,logs,demo} ENV`: operate a deployed stack.

Every command finds its resources through `outputs/<env>.json` (docs/contracts.md), never by
guessing names, so the same commands work against LocalStack and real AWS.
"""
