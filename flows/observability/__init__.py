"""What a run leaves behind to look at: logs, artifacts and events."""
