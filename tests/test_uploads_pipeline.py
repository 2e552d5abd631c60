"""CSV uploads through Dagster: the inbox sensor (one run per new file, none for
a file seen before) and inbox -> lake (Parquet, CSV, rejects, report) ->
core.contacts in a real Postgres."""

from __future__ import annotations

import json
import os
import time

import polars as pl
import psycopg
import pytest

pytestmark = pytest.mark.slow

ROWS = [
    ("JOHN SMITH", "John.Smith@Example.COM", "(212) 555-0143", "123 N Main St Apt 4, Springfield, IL 62701", "$1,200.50"),
    ("maría garcía", "maria@correo.es", "+34 612 345 678", "P.O. Box 55, Austin, TX 78701", "€45"),
    ("Dr. Zoë van der Berg", "zoe@@bad", "12", "4821 Oak Ave, Denver, CO 80202", "n/a"),
]


def _csv(n: int = 30) -> str:
    lines = ["Customer Name,Email Address,Mobile,Mailing Address,Lifetime Value"]
    for i in range(n):
        name, email, phone, addr, amount = ROWS[i % 3]
        lines.append(f'{name},{email},{phone},"{addr}","{amount}"')
    lines.insert(5, "ragged,line")  # line 6 of the file
    return "\n".join(lines) + "\n"


@pytest.fixture
def inbox(workdir, monkeypatch):
    box = workdir / "inbox"
    box.mkdir()
    monkeypatch.setenv("LISTINGS_UPLOAD_INBOX", str(box))
    monkeypatch.setenv("LISTINGS_UPLOAD_CONFIG", str(workdir / "uploads.yaml"))
    return box


def _sensor(instance, cursor=None):
    from dagster import build_sensor_context

    from pipeline_assets.upload_automation import upload_inbox_sensor

    result = upload_inbox_sensor(build_sensor_context(instance=instance, cursor=cursor))
    # What the daemon does with the result: register the partitions.
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return result


def test_sensor_one_run_per_new_file(inbox, instance):
    first = _sensor(instance)
    assert first.run_requests == [] and first.skip_reason
    f = inbox / "Dealer Leads (March).csv"
    f.write_text(_csv())
    dropped = _sensor(instance, first.cursor)
    assert len(dropped.run_requests) == 1
    req = dropped.run_requests[0]
    assert req.partition_key.startswith("dealer_leads_march-") and len(req.partition_key.rsplit("-", 1)[1]) == 12
    assert req.run_config["ops"]["uploaded_files"]["config"]["path"] == str(f)
    assert instance.get_dynamic_partitions("uploads") == [req.partition_key]

    assert _sensor(instance, dropped.cursor).run_requests == []          # unchanged: nothing
    later = time.time() + 5
    os.utime(f, (later, later))                                          # dropped again, same bytes
    again = _sensor(instance, dropped.cursor)
    assert again.run_requests == [] and again.cursor != dropped.cursor  # looked at once, no second run
    assert _sensor(instance, None).run_requests == []                    # even with a lost cursor

    (inbox / ".partial.csv").write_text(_csv())                          # hidden / partial uploads wait
    f.write_text(_csv(31))                                               # new content: a new partition
    changed = _sensor(instance, again.cursor)
    assert [r.partition_key for r in changed.run_requests] != [req.partition_key]
    assert len(changed.run_requests) == 1 and len(instance.get_dynamic_partitions("uploads")) == 2


def _run(instance, request):
    from pipeline_assets.definitions import build_definitions

    job = build_definitions().resolve_job_def("upload_job")
    return job.execute_in_process(partition_key=request.partition_key, run_config=request.run_config,
                                  instance=instance, raise_on_error=False, tags=request.tags)


def _q(url, sql, params=None):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def test_inbox_to_lake_and_postgres(clean_db, inbox, workdir, instance):
    (workdir / "uploads.yaml").write_text("columns: {'lifetime*': currency}\n")
    (inbox / "leads.csv").write_text(_csv(30))
    (req,) = _sensor(instance).run_requests
    key = req.partition_key
    result = _run(instance, req)
    assert result.success

    lake = workdir / "lake"
    out = pl.read_parquet(lake / f"normalized_uploads/upload={key}/part-0.parquet")
    assert out.height == 30 and out["_row"].to_list() == list(range(1, 31))
    assert out["customer_name__norm"][:3].to_list() == ["John Smith", "María García", "Dr. Zoë van der Berg"]
    assert out["mobile__norm"][:3].to_list() == ["+12125550143", "+34612345678", None]
    assert out["email_address__valid"].to_list()[:3] == [True, True, False]
    assert out["email_address"][2] == "zoe@@bad"  # the invalid original is kept
    assert out["mailing_address__po_box"][1] == "PO Box 55"
    csv_file = lake / f"normalized_uploads_csv/upload={key}/leads.normalized.csv"
    assert pl.read_csv(csv_file, infer_schema=False).height == 30
    rejects = pl.read_csv(lake / f"upload_rejects/upload={key}/rejects.csv")
    assert rejects["line"].to_list() == [6] and rejects["raw_line"][0] == "ragged,line"
    report = json.loads((lake / f"normalized_uploads/upload={key}/report.json").read_text())
    types = {c["header"]: c["type"] for c in report["columns"]}
    assert types == {"Customer Name": "person_name", "Email Address": "email", "Mobile": "phone",
                     "Mailing Address": "address", "Lifetime Value": "currency"}
    email = next(c for c in report["columns"] if c["header"] == "Email Address")
    assert (email["filled"], email["valid"], email["invalid"]) == (30, 20, 10)
    assert next(c for c in report["columns"] if c["header"] == "Lifetime Value")["overridden"] == "lifetime*"

    mat = instance.get_latest_materialization_event(
        __import__("dagster").AssetKey("normalized_uploads")).asset_materialization
    md = mat.metadata["report"].value
    assert "| Email Address | email |" in md and "header hints email" in md
    assert mat.metadata["rejected_lines"].value == 1 and mat.metadata["dagster/row_count"].value == 30
    assert str(csv_file) == mat.metadata["csv_download"].value
    progress = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    assert progress and progress[-1].event_specific_data.asset_observation.metadata["rows_processed"].value == 30

    rows = _q(clean_db, "SELECT full_name, first_name, last_name, email, phone, postal_code, valid, invalid_columns, "
                        "raw->>'Email Address' FROM core.contacts WHERE upload_key = %s ORDER BY _row LIMIT 3", (key,))
    assert rows[0] == ("John Smith", "John", "Smith", "john.smith@example.com", "+12125550143", "62701", True, [],
                       "John.Smith@Example.COM")
    assert rows[2][6] is False and rows[2][7] == ["email_address", "mobile", "lifetime_value"]
    (status,) = _q(clean_db, "SELECT status, total_rows, valid_rows, rejected_lines, loaded_rows FROM pipeline.uploads "
                             "WHERE upload_key = %s", (key,))
    assert status == ("completed", 30, 20, 1, 30)

    # Retry / re-execution replaces the upload's rows instead of adding to them.
    assert _run(instance, req).success
    assert _q(clean_db, "SELECT count(*) FROM core.contacts WHERE upload_key = %s", (key,)) == [(30,)]


def test_empty_upload_fails_its_partition_clearly(clean_db, inbox, instance):
    (inbox / "empty_export.csv").write_text("")
    (req,) = _sensor(instance).run_requests
    result = _run(instance, req)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "empty_export.csv: the file is empty" in str(failure.event_specific_data.error)
    assert _q(clean_db, "SELECT status, error_message FROM pipeline.uploads") == [
        ("failed", "empty_export.csv: the file is empty")]
