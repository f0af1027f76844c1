"""The bootstrap project's components: one module per entity, none shared with the main program. Only the
settings reader is common to both: it lives in the repository's `stackconfig/` package, put on the path here
(Pulumi runs the bootstrap from bootstrap/). Appended, so nothing there shadows a module of the bootstrap."""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)
