"""`python -m bnnbench.report`: see `bnnbench.report.cli`."""

import sys

from bnnbench.report.cli import main

sys.exit(main())
