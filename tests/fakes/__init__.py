"""Test doubles that speak the platforms' real wire formats over loopback HTTP."""
