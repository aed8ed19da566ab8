"""`python -m screener` runs the same command line as `screener`."""

from .cli import main

main()
