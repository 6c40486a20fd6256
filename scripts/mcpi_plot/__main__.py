"""`python -m mcpi_plot ARGS`: the command line of scripts/plot."""

import sys

from .cli import main

sys.exit(main())
