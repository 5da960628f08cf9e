"""The `maskvox` console script (`maskvox = maskvox.cli:main`, also `python -m maskvox.cli`).

The subcommands live in maskvox.commands, one module each; this name stays for the entry point
and for callers that run the command in-process.
"""

import sys

from .commands import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
