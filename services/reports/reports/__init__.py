"""Field reports: forms, dispatches to booths, their answers and reviews (issue 14)."""
