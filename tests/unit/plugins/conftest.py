"""Make the repository importable as the collection imgops.image_processor (namespace packages)."""

import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[3] / "playbooks" / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
