"""The floor everything stands on: events, ports, errors, the clock, the actor, audit."""
