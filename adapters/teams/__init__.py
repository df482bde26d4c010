"""Microsoft Teams: botbuilder's CloudAdapter mounted in the project's aiohttp server (the
adapter), Adaptive Cards and task-module answers (`render`), proactive messages from stored
conversation references."""

from adapters.teams.adapter import TeamsAdapter

__all__ = ["TeamsAdapter"]
