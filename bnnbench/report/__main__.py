"""`python -m bnnbench.report`: see `bnnbench.report.command`."""

import sys

from bnnbench.core.errors import guarded
from bnnbench.report.command import main

sys.exit(guarded(main))  # an error: one line, exit 2 (--debug: the traceback)
