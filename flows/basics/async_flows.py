"""Async tasks and flows, run concurrently with `asyncio.gather`.

Demonstrates: `async def` tasks awaited together run at the same time inside one async flow,
so three one-second waits take about one second, not three.

Run it:
    python -m flows.basics.async_flows
"""

import asyncio

from prefect import flow, task


@task
async def fetch_page(page: int, delay: float) -> list[int]:
    """Wait `delay` seconds (standing in for I/O) and return a page of ids."""
    await asyncio.sleep(delay)
    return [page * 10 + offset for offset in range(3)]


@flow(name="async-crawl")
async def async_crawl(pages: int = 3, delay: float = 1.0) -> list[int]:
    """Fetch `pages` pages concurrently and flatten them."""
    results = await asyncio.gather(*(fetch_page(page, delay) for page in range(pages)))
    return [item for page in results for item in page]


if __name__ == "__main__":
    print(asyncio.run(async_crawl()))
