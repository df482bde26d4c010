"""Administration: teams, managers, schedules, people, workspaces, records and erasure."""
