"""Running flows from the outside: serve, deploy to a work pool, schedules, runtime, pauses."""
