"""Microsoft Teams: botbuilder's CloudAdapter mounted in the project's aiohttp server, Adaptive
Cards and task modules, proactive messages from stored conversation references."""

from adapters.teams.adapter import TeamsAdapter

__all__ = ["TeamsAdapter"]
