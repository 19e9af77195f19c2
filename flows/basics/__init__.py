"""Core building blocks: flows and tasks, subflows, fan-out, parameters, names, tags, runners."""
