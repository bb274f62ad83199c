"""`python -m bnnbench` runs the Hydra CLI."""

from bnnbench.cli import main

if __name__ == "__main__":
    main()
