"""`python -m bnnbench.analyze ckpt=<run>/checkpoints/best.ckpt what=entropy,hessian`: the papers' analysis figures."""

from __future__ import annotations

import sys

from bnnbench.analyze.command import main

if __name__ == "__main__":
    code = main()
    if code:  # success returns normally, so that runpy callers (tests) see no SystemExit
        sys.exit(code)
