"""The process: the aiohttp app, its configuration, the CLI, logging, metrics and the demo."""
