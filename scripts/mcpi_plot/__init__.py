"""Figures from mcpi results: scaling sweeps and single runs (`scripts/plot --help`).

Run it through scripts/plot, which provides the pinned packages of
scripts/requirements.txt in .venv-plot (created on first use) and runs
`python -m mcpi_plot` with scripts/ on the module path.

  read      results files and sweep folders, checked (PlotError: one line)
  analysis  numbers derived from runs: scaling, load balance, convergence
  figures   the figures, which to draw, and writing them
  cli       the command line
"""
