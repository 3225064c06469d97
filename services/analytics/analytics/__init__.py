"""Analytics: a Faust stream computing live booth coverage per state for HQ dashboards."""
