"""The shape of the house: one source model, one raw-record path, the graph
pinned in a reviewed file, no import-time side effects, no private names
imported across modules, transforms free of dagster and HTTP.

Regenerate the graph snapshot after an intended change with
`LISTINGS_UPDATE_SNAPSHOT=1 pytest tests/test_structure.py` and review the diff.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from pipeline_assets.sources import SourceConfigError, json_schema, parse_sources

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pipeline_assets"
SNAPSHOT = ROOT / "tests" / "graph_snapshot.json"
JOBS = {"name": "x", "kind": "jobs", "format": "csv", "location": "a.csv",
        "fields": {"title": "t", "company": "c", "source_url": "u"}}


# -- one source model ------------------------------------------------------------

@pytest.mark.parametrize("yaml_line, message", [
    ('enabled: "false"', "source x: enabled must be true or false, got 'false' (a quoted string"),
    ("enabled: 'no'", "source x: enabled must be true or false, got 'no'"),
    ('watch: "false"', "source x: watch must be true or false, got 'false'"),
    ('schedule: "99 * * * *"', "source x: schedule '99 * * * *' is not a valid 5-field cron expression"),
    ('schedule: "0 2 * *"', "is not a valid 5-field cron expression"),
    ('schedule: "0 2 31 2 * *"', "is not a valid 5-field cron expression"),
    ("history: {disappear_after_days: '2'}", "history.disappear_after_days must be a number, got the string '2'"),
    ("colour: red", "source x: colour is not a known key"),
])
def test_ambiguous_yaml_is_refused_naming_source_and_key(yaml_line, message):
    entry = {**JOBS, **yaml.safe_load(yaml_line)}
    with pytest.raises(SourceConfigError) as e:
        parse_sources({"sources": [entry]}, origin="sources.yaml")
    assert str(e.value).startswith("sources.yaml: source x:")
    assert message in str(e.value)


def test_quoted_boolean_on_an_http_source_is_refused():
    entry = {"name": "api", "type": "json_api", "kind": "vehicles", "url": "https://api.example.com/v1",
             "allowed_hosts": ["api.example.com"], "allow_private_networks": "false",
             "fields": {"make": "make", "model": "model", "year": "year", "source_url": "url"}}
    with pytest.raises(SourceConfigError, match="source api: allow_private_networks must be true or false"):
        parse_sources({"sources": [entry]})


def test_all_problems_of_a_source_are_reported_together():
    entry = {**JOBS, "location": "ftp://h/a.csv", "fields": {"title": "t"}}
    with pytest.raises(SourceConfigError) as e:
        parse_sources({"sources": [entry]})
    assert "location: unsupported URL scheme 'ftp'" in str(e.value)
    assert "source x: required field(s) not mapped: source_url, company" in str(e.value)


def test_real_booleans_aliases_and_defaults_are_accepted():
    src = parse_sources({"defaults": {"schedule": "weekly"},
                         "sources": [{**JOBS, "enabled": False, "watch": True}]})[0]
    assert (src.enabled, src.watch, src.schedule) == (False, True, "0 4 * * 0")


def test_json_schema_file_is_current_and_validates_the_bundled_configs():
    import jsonschema

    from pipeline_assets.cli import SCHEMA_FILE, schema_text

    assert SCHEMA_FILE.read_text() == schema_text(), "run `listings check-sources --write-schema`"
    schema = json_schema()
    for path in (ROOT / "data" / "sources.yaml", ROOT / "tests" / "fixtures" / "sources.yaml"):
        text = path.read_text()
        assert text.startswith("# yaml-language-server: $schema=")
        jsonschema.validate(yaml.safe_load(text), schema)
    bad = {"sources": [{**JOBS, "enabled": "false"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


# -- one raw-record path ---------------------------------------------------------

RECORD = {"id": "A-1", "make": "Toyota", "model": "Camry", "year": 2021, "price": 25000.0, "active": True,
          "dealer": {"name": "Müller & Söhne", "city": None}, "tags": ["a", "b"], "note": "line\nbreak\t\"q\""}


def test_same_record_same_hash_through_files_and_http(tmp_path):
    """A listing read from a JSON file, a JSON-lines file (DuckDB) and a JSON
    API (the scraper) is stored alike and hashed alike."""
    import asyncio

    import polars as pl

    from collect_server import LocalServer, Reply, source
    from pipeline_assets.collect import collect_source
    from pipeline_assets.raw.files import read_to_parquet
    from pipeline_assets.raw.records import flatten, payload_hash

    now = datetime(2026, 11, 16, tzinfo=timezone.utc)
    (tmp_path / "a.json").write_text(json.dumps({"inventory": [RECORD]}))
    (tmp_path / "a.jsonl").write_text(json.dumps(RECORD) + "\n")
    read_to_parquet(tmp_path / "a.json", "json", tmp_path / "json.parquet", origin="a.json", fetched_at=now,
                    record_path="inventory")
    read_to_parquet(tmp_path / "a.jsonl", "jsonl", tmp_path / "jsonl.parquet", origin="a.jsonl", fetched_at=now)
    with LocalServer() as srv:
        srv.route("/api", lambda r: Reply(body=json.dumps({"data": [RECORD]})))
        cfg = source("api", "json_api", srv.url("/api"), record_path="data")
        report = asyncio.run(collect_source(cfg, state_dir=tmp_path / "s", raw_dir=tmp_path / "raw",
                                            out_parquet=tmp_path / "http.parquet"))
    assert report.status == "completed"
    rows = {name: pl.read_parquet(tmp_path / f"{name}.parquet").row(0, named=True)
            for name in ("json", "jsonl", "http")}
    fields = {k: v for k, v in rows["json"].items() if not k.startswith("_")}
    assert fields["price"] == "25000" and fields["active"] == "true" and fields["dealer.name"] == "Müller & Söhne"
    for name, row in rows.items():
        assert {k: v for k, v in row.items() if not k.startswith("_")} == fields, name
    hashes = {name: row["_payload_hash"] for name, row in rows.items()}
    assert len(set(hashes.values())) == 1, hashes
    assert hashes["json"] == payload_hash(flatten(RECORD))  # the SQL and the Python definition agree


def test_csv_and_parquet_hash_like_json_for_the_same_text(tmp_path):
    import polars as pl

    from pipeline_assets.raw.files import read_to_parquet

    now = datetime(2026, 11, 16, tzinfo=timezone.utc)
    flat = {"id": "7", "make": "Kia", "note": "a,b \"c\"", "empty": None}
    pl.DataFrame([flat], schema={k: pl.String for k in flat}).write_csv(tmp_path / "a.csv")
    pl.DataFrame([flat], schema={k: pl.String for k in flat}).write_parquet(tmp_path / "a.parquet")
    (tmp_path / "a.json").write_text(json.dumps([flat]))
    got = {}
    for fmt in ("csv", "parquet", "json"):
        read_to_parquet(tmp_path / f"a.{fmt}", fmt, tmp_path / f"{fmt}.out", origin=f"a.{fmt}", fetched_at=now)
        got[fmt] = pl.read_parquet(tmp_path / f"{fmt}.out")["_payload_hash"][0]
    assert len(set(got.values())) == 1, got


def test_a_null_field_and_a_missing_one_hash_alike():
    from pipeline_assets.raw.records import payload_hash

    assert payload_hash({"a": "1", "b": None}) == payload_hash({"a": "1"})
    assert payload_hash({"a": "1"}) != payload_hash({"a": "1", "b": ""})
    assert payload_hash({"ab": "c"}) != payload_hash({"a": "bc"})


# -- the graph, pinned -----------------------------------------------------------

def graph_snapshot() -> dict:
    from pipeline_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        pd = node.partitions_def
        dims = ([d.name for d in pd.partitions_defs] if hasattr(pd, "partitions_defs") else
                [type(pd).__name__] if pd else [])
        assets[key.to_user_string()] = {
            "group": node.group_name, "partitions": dims, "kinds": sorted(node.kinds),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "checks": sorted(c.name for c in graph.get_check_keys_for_assets([key])),
            "has_description": bool(node.description),
        }
    jobs = {j.name: sorted(k.to_user_string() for k in j.selection.resolve(graph))
            for j in defs.jobs if hasattr(j, "selection")}
    return {"assets": assets, "jobs": jobs}


def test_graph_matches_the_reviewed_snapshot():
    got = graph_snapshot()
    if os.environ.get("LISTINGS_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    want = json.loads(SNAPSHOT.read_text())
    assert got == want, "the asset graph changed: review, then LISTINGS_UPDATE_SNAPSHOT=1 pytest tests/test_structure.py"
    assert all(a["has_description"] for a in got["assets"].values())


# -- imports ---------------------------------------------------------------------

def test_importing_the_definitions_starts_nothing_and_changes_no_environment(tmp_path):
    pgdata = tmp_path / "pg"
    code = ("import os, json; before = dict(os.environ); import pipeline_assets.definitions as d; "
            "d.defs.resolve_asset_graph(); "
            "print(json.dumps(sorted(k for k in os.environ if before.get(k) != os.environ[k] "
            "and not k.startswith('_RJEM'))))")  # Polars' own allocator setting
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAGSTER_PG_URL")}
    env["LISTINGS_PGDATA"] = str(pgdata)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    assert not pgdata.exists()


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(list(PACKAGE.rglob("*.py")) + list((ROOT / "resources").rglob("*.py"))):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = ast.parse(path.read_text(), str(path))
    return out


def _imports(name: str, tree: ast.Module, is_package: bool):
    """(module imported, names) for every import of `tree`, relative ones resolved."""
    base = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                mod = ".".join(base[: len(base) - node.level + 1] + ([mod] if mod else []))
            yield mod, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


def test_no_private_name_is_imported_across_modules():
    offenders = []
    for name, tree in _modules().items():
        is_pkg = (ROOT / Path(*name.split(".")) / "__init__.py").exists()
        for mod, names in _imports(name, tree, is_pkg):
            offenders += [f"{name}: from {mod} import {n}" for n in names if n.startswith("_") and n != "__version__"]
    assert not offenders, offenders


def test_transforms_and_raw_records_import_no_dagster_and_no_http():
    offenders = []
    for name, tree in _modules().items():
        if not name.startswith(("pipeline_assets.transforms", "pipeline_assets.raw", "pipeline_assets.sources")):
            continue
        is_pkg = (ROOT / Path(*name.split(".")) / "__init__.py").exists()
        for mod, _ in _imports(name, tree, is_pkg):
            if mod.split(".")[0] in ("dagster", "httpx") or mod.startswith("pipeline_assets.collect") and \
                    mod != "pipeline_assets.collect.security":
                offenders.append(f"{name} imports {mod}")
    assert not offenders, offenders


def test_no_import_cycle_between_packages():
    """collect -> sources -> transforms -> raw records, never back."""
    order = ["pipeline_assets.raw", "pipeline_assets.transforms", "pipeline_assets.sources",
             "pipeline_assets.collect"]
    rank = {p: i for i, p in enumerate(order)}

    def layer(mod: str) -> str | None:
        return next((p for p in order if mod == p or mod.startswith(p + ".")), None)

    offenders = []
    for name, tree in _modules().items():
        mine = layer(name)
        if mine is None:
            continue
        is_pkg = (ROOT / Path(*name.split(".")) / "__init__.py").exists()
        for mod, _ in _imports(name, tree, is_pkg):
            theirs = layer(mod)
            allowed = mod == "pipeline_assets.collect.security"  # host matching, no I/O
            if theirs is not None and rank[theirs] > rank[mine] and not allowed:
                offenders.append(f"{name} imports {mod}")
    assert not offenders, offenders
