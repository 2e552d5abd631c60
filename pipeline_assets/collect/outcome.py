"""What one collection run did, in a form a job (or a person) can act on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MAX_ERRORS_KEPT = 200  # a site-wide outage should not make the report itself huge


@dataclass
class PageFailure:
    url: str | None
    status: int | None
    attempts: int
    error: str
    raw_path: str | None = None
    kind: str = "page"  # page | detail | source


@dataclass
class CollectReport:
    source: str
    type: str
    out_parquet: str
    raw_dir: str
    replay: bool = False
    status: str = "failed"
    pages_ok: int = 0
    pages_failed: int = 0
    pages_not_modified: int = 0
    details_ok: int = 0
    details_failed: int = 0
    records: int = 0
    truncated: bool = False
    stop_reason: str = ""
    elapsed: float = 0.0
    errors: list[PageFailure] = field(default_factory=list)
    errors_omitted: int = 0

    def add_error(self, failure: PageFailure) -> None:
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(failure)
        else:
            self.errors_omitted += 1

    def finish(self) -> "CollectReport":
        """completed: every page fetched; partial: some pages (or detail pages)
        failed, or the pages were cut short (`truncated`: max_pages reached or
        a next link that loops), so not every page was fetched; failed:
        nothing fetched."""
        if self.pages_ok + self.pages_not_modified == 0:
            self.status = "failed"
        elif self.pages_failed or self.details_failed or self.truncated:
            self.status = "partial"
        else:
            self.status = "completed"
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
