"""The organisation registry: levels as data, a generated national tree, and its store."""
