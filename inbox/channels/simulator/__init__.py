"""A simulated social platform for the demo and the load tests: the connector's logic in
connector.py, its names and message templates in vocabulary.toml."""

from inbox.channels.simulator.connector import SimulatorConnector

__all__ = ["SimulatorConnector"]
