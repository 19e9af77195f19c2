"""A fixture flow: the loader reads its name and signature without importing it."""

from prefect import flow

raise RuntimeError("the declarations loader must not import flow modules")


@flow(name="fx-flow")
def fixture_flow(who: str = "world", times: int = 1) -> str:
    """Greet someone.

    Args:
        who: whom to greet.
        times: how many times.
    """
    return f"hello {who}" * times
