"""`python -m virtapi` is the `virtapi` command."""

from .cli import main

main()
