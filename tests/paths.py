"""Where the tests find things: the repository, and the HL7 sample corpus beside it
(``../shared/corpus``; ``HL7BUS_CORPUS`` overrides it).  Tests read the corpus in place."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("HL7BUS_CORPUS", REPO.parent / "shared" / "corpus"))
