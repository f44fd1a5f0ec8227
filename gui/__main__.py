"""``python -m sleepvit.gui``: the same as ``sleepvit-gui``."""

import sys

from sleepvit.gui.app import main

if __name__ == "__main__":
    sys.exit(main())
