"""``python -m racedet``: see :mod:`racedet.cli`."""

import sys

from racedet.cli import main

if __name__ == "__main__":
    sys.exit(main())
