"""`python -m analytics worker`: the worker, started from the one module that owns the app."""

from analytics.app import main

main()
