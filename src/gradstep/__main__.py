"""``python -m gradstep``: the gradstep command."""

from __future__ import annotations

import sys

from gradstep.cli import main

if __name__ == "__main__":
    sys.exit(main())
