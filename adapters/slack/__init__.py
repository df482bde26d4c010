"""Slack: slack-bolt's AsyncApp mounted in the project's aiohttp server, Block Kit rendering,
OAuth installs across workspaces, single-token and Socket Mode."""

from adapters.slack.adapter import SlackAdapter

__all__ = ["SlackAdapter"]
