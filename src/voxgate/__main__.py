"""``python -m voxgate``: the same as the ``voxgate`` command."""

import sys

from voxgate.cli import main

if __name__ == "__main__":
    sys.exit(main())
