"""`python -m adanalysis` runs the CLI."""

from adanalysis.cli import app

app()
