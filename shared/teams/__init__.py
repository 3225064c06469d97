"""The booth team's roles catalogue and rules, as data (`catalogue.yaml`), and the pure checks
both the appointments service and the analytics stream apply to a team."""
