"""`python -m bnnbench.report`: see `bnnbench.report.cli`."""

import sys

from bnnbench.core.errors import guarded
from bnnbench.report.cli import main

sys.exit(guarded(main))  # an error: one line, exit 2 (--debug: the traceback)
