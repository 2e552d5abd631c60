"""Upload options and the override file (data/uploads.yaml by default).

    defaults:                       # options for every file
      default_country: US
      confidence_threshold: 0.8
    columns:                        # column-name pattern (glob, case-insensitive) -> type, every file
      "*zip*": postal_code
    files:                          # file-name glob -> options and column overrides
      - match: "acme_*.csv"
        options: {default_country: GB, dayfirst: true}
        columns: {"Mobile": phone, "Ref": text}

Mistakes fail when the file is loaded, naming the file and the key, because a
typo in an override would otherwise silently fall back to detection.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import phonenumbers
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .types import ColumnType


class UploadConfigError(ValueError):
    pass


class UploadOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_country: str = Field("US", description="ISO region for phones written without +country code.")
    preserve_accents: bool = Field(True, description="False: strip diacritics from names (José -> Jose).")
    confidence_threshold: float = Field(0.8, ge=0, le=1, description=(
        "Below this confidence a column is left as text and flagged."))
    sample_rows: int = Field(5000, ge=50, description="Rows read for detection (from the start of the file).")
    chunk_rows: int = Field(100_000, ge=1000, description="Rows per streamed chunk: bounds memory.")
    dayfirst: bool = Field(False, description="Read 03/04/2025 as 3 April (else March 4).")
    lowercase_email_local_part: bool = Field(True, description=(
        "Lower-case the part before @ too (ASCII only). Domains are always lower-cased."))
    default_currency: str = Field("USD", min_length=3, max_length=3)
    decimal_comma: bool = Field(False, description="Amounts written 1.234,56.")
    cache_size: int = Field(300_000, ge=0, description=(
        "Per column: library results kept across chunks (bounded, oldest evicted first)."))
    workers: int | None = Field(None, ge=0, le=16, description=(
        "Helper processes for the library calls on new distinct values (0: none; default: one per spare "
        "core, at most 3)."))
    encoding: str | None = Field(None, description="Force an encoding instead of detecting it.")
    delimiter: str | None = Field(None, min_length=1, max_length=1, description="Force a delimiter.")

    @field_validator("default_country")
    @classmethod
    def _region(cls, v: str) -> str:
        v = v.upper()
        if v not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{v!r} is not a region phonenumbers knows (e.g. US, GB, DE, FR, MX)")
        return v

    @field_validator("default_currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        return v.upper()


class _FileRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: str
    options: dict = Field(default_factory=dict)
    columns: dict[str, ColumnType] = Field(default_factory=dict)


class _ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    defaults: dict = Field(default_factory=dict)
    columns: dict[str, ColumnType] = Field(default_factory=dict)
    files: list[_FileRule] = Field(default_factory=list)


class UploadConfig:
    """Options and type overrides resolved per file name."""

    def __init__(self, raw: _ConfigFile, origin: str = "<config>"):
        self.raw, self.origin = raw, origin
        # Build every file's options once now, so a bad option fails at load time.
        self._defaults = _options(raw.defaults, f"{origin}: defaults")
        for i, rule in enumerate(raw.files):
            _options({**raw.defaults, **rule.options}, f"{origin}: files[{i}] ({rule.match})")

    def options_for(self, file_name: str) -> UploadOptions:
        merged = dict(self.raw.defaults)
        for rule in self._rules(file_name):
            merged.update(rule.options)
        return UploadOptions(**merged)

    def overrides_for(self, file_name: str) -> dict[str, ColumnType]:
        """Column-name pattern -> type; file rules after (over) the global ones."""
        out = dict(self.raw.columns)
        for rule in self._rules(file_name):
            out.update(rule.columns)
        return out

    def _rules(self, file_name: str) -> list[_FileRule]:
        name = Path(file_name).name.lower()
        return [r for r in self.raw.files if fnmatch.fnmatchcase(name, r.match.lower())]


def _options(values: dict, where: str) -> UploadOptions:
    try:
        return UploadOptions(**values)
    except ValidationError as e:
        raise UploadConfigError(f"{where}: {_explain(e)}") from None


def _explain(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "enum":
            msg = f"{err.get('input')!r} is not one of {', '.join(t.value for t in ColumnType)}"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def load_upload_config(path: str | Path | None) -> UploadConfig:
    """Parse and validate the override file. A missing file means defaults only."""
    if path is None or not Path(path).exists():
        return UploadConfig(_ConfigFile(), origin=str(path or "<defaults>"))
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as e:
        raise UploadConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise UploadConfigError(f"{path}: expected a mapping with defaults / columns / files")
    try:
        raw = _ConfigFile(**data)
    except ValidationError as e:
        raise UploadConfigError(f"{path}: {_explain(e)}") from None
    return UploadConfig(raw, origin=str(path))


def override_for(column: str, overrides: dict[str, ColumnType]) -> tuple[str, ColumnType] | None:
    """(pattern, type) of the last declared pattern matching the column name (file rules come last)."""
    name = column.lower()
    for pattern, ctype in reversed(list(overrides.items())):
        if fnmatch.fnmatchcase(name, pattern.lower()):
            return pattern, ctype
    return None
