"""Global concurrency limits (``concurrency-limits.yaml``) and variables (``variables.yaml``)."""

from __future__ import annotations

from pydantic import Field, JsonValue, NonNegativeFloat, NonNegativeInt, field_validator

from infra.contracts import GlobalConcurrencyLimitInputs, VariableInputs
from infra.declarations.base import Name, UserModel


class ConcurrencyLimitDeclaration(UserModel):
    """One global concurrency limit (also a rate limit when slots decay)."""

    name: Name = Field(description="Limit name, as used by `concurrency(...)` in flows.")
    limit: NonNegativeInt = Field(description="Number of slots.")
    active: bool = Field(default=True, description="An inactive limit does not block anyone.")
    slot_decay_per_second: NonNegativeFloat = Field(
        default=0.0,
        description=(
            "Slots freed per second: above 0 the limit is a rate limit (`rate_limit(...)`); "
            "0 means slots are held until released."
        ),
    )

    def provider_inputs(self) -> GlobalConcurrencyLimitInputs:
        """The GlobalConcurrencyLimit provider's inputs (`infra/contracts.py`)."""
        return GlobalConcurrencyLimitInputs(
            name=self.name,
            limit=self.limit,
            active=self.active,
            slot_decay_per_second=self.slot_decay_per_second,
        )


class ConcurrencyLimitsFile(UserModel):
    """The ``concurrency-limits.yaml`` document."""

    concurrency_limits: list[ConcurrencyLimitDeclaration] = Field(
        default_factory=list, description="Global concurrency limits and rate limits."
    )


class VariableDeclaration(UserModel):
    """One Prefect variable."""

    name: str = Field(
        description="Variable name: lowercase letters, digits, '-' and '_' (Prefect's rule).",
        pattern=r"^[a-z0-9_-]+$",
        max_length=255,
    )
    value: JsonValue = Field(description="Any JSON value (string, number, bool, list, mapping).")
    tags: list[str] = Field(default_factory=list, description="Tags shown in the UI.")

    @field_validator("value")
    @classmethod
    def _not_null(cls, value: JsonValue) -> JsonValue:
        from prefect.types import check_variable_value

        if value is None:
            raise ValueError("a variable needs a value (null is not stored by Prefect)")
        check_variable_value(value)
        return value

    def provider_inputs(self) -> VariableInputs:
        """The Variable provider's inputs (`infra/contracts.py`)."""
        return VariableInputs(name=self.name, value=self.value, tags=list(self.tags))


class VariablesFile(UserModel):
    """The ``variables.yaml`` document."""

    variables: list[VariableDeclaration] = Field(
        default_factory=list, description="Prefect variables (never secrets: use blocks)."
    )
