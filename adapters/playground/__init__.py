"""The playground: a local web page that behaves like a chat workspace, so anyone can try
Rut Radar with no Slack or Teams credentials. Loopback and playground workspaces only."""

from adapters.playground.adapter import PlaygroundAdapter

__all__ = ["PlaygroundAdapter"]
