"""Live booth coverage: booth tables, partials per partition, totals per unit, the coverage API."""
