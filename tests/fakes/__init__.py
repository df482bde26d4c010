"""Test doubles that speak the platforms' real wire formats over loopback HTTP, and one
platform in process behind the `Adapter` port (`adapter.py`)."""
