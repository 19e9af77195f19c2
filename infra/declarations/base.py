"""Shared pieces of the declaration models."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

#: A name as Prefect accepts it for pools, queues, limits and automations.
Name = Annotated[
    str,
    Field(min_length=1, pattern=r"^[^/%&><]+$", description="Name (no '/', '%', '&', '<', '>')."),
]


class UserModel(BaseModel):
    """Base for every model read from a user's file: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
