"""Rounds and their contract: open, check in, close, release, and the calendar they follow."""
