"""In-memory stand-ins for the services' ports, for handler tests that run in milliseconds. Each
fake passes the same contract tests as the real adapter it stands for (tests/integration/
test_*_ports_contract.py), so a handler test on fakes says what the real servers would."""
