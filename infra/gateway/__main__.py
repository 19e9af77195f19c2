"""Run the gateway: `python -m infra.gateway [--host 0.0.0.0] [--port 8080]`.

Settings come from the environment (`infra/gateway/config.py`); a missing or malformed one
stops the process with a message naming the variable (exit 2), before it listens.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from infra.gateway.config import PORT, ConfigError, GatewaySettings


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, read the settings, serve until stopped."""
    parser = argparse.ArgumentParser(prog="python -m infra.gateway", description=__doc__)
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--port", type=int, default=PORT, help="port to listen on")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    arguments = parser.parse_args(argv)

    import uvicorn

    from infra.gateway.app import create_app
    from infra.gateway.logs import configure
    from infra.gateway.templates import TemplateProblem

    configure(arguments.log_level.upper())
    try:
        app = create_app(GatewaySettings.from_env())
    except (ConfigError, TemplateProblem) as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 2
    uvicorn.run(
        app,
        host=arguments.host,
        port=arguments.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
