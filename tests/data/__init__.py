"""Tests of the data layer (p7keras.data, p7keras.cli.data, p7keras.io)."""
