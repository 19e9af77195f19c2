"""The webhook gateway: `POST /hooks/<slug>` in, Prefect events out (docs/webhooks.md).

Self-contained on purpose: its image copies only this package, so it imports nothing of
`infra` but itself (stdlib, prefect, pydantic, starlette, uvicorn, jinja2, httpx).
"""
