"""One package per platform. Each verifies requests, turns payloads into neutral events,
renders neutral messages into its format and sends proactively."""
