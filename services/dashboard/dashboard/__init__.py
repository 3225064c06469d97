"""The national HQ dashboard: coverage per state down to the booth, live, in English and Hindi."""
