"""The production HA topology: API processes, separate services, Redis, a balancer; live."""
