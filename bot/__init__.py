"""Rut Radar's product, in floors that import only downwards: core → rounds → admin → chat → delivery → server."""
