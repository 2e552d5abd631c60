"""Tunable pipeline settings (not secrets), editable from the launchpad."""

from dagster import ConfigurableResource
from pydantic import Field


class PipelineSettings(ConfigurableResource):
    max_rejection_rate: float = Field(
        default=0.10, description="The rejection-rate check fails above this share of a source-day.")
    history_window_days: int = Field(
        default=30, description="Trailing days read to tell new listings from reposts.")
