"""``python -m sleepvit.gui``: the same as ``sleepvit-gui``."""

import sys

from sleepvit.gui.app import main

sys.exit(main())
