"""CSV uploads from an s3:// inbox (moto on loopback, as tests/test_s3.py): the
sensor sees a dropped file once, the run copies it into the lake and loads
core.contacts; a run that failed (a broken upload config) is re-executed from
its failure once the config is fixed, and the upload is loaded once."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.slow

CSV = ("Customer Name,Email Address,Mobile,Mailing Address\n"
       + "".join(f'Ann Lee{i},ann{i}@example.com,(212) 555-{1000 + i},"{i + 1} Main St, Austin, TX 78701"\n'
                 for i in range(20)))


@pytest.fixture
def s3_inbox(workdir, monkeypatch):
    import s3fs
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
                 "LISTINGS_S3_ENDPOINT_URL": endpoint, "LISTINGS_UPLOAD_INBOX": "s3://drops/inbox",
                 "LISTINGS_UPLOAD_CONFIG": str(workdir / "uploads.yaml")}.items():
        monkeypatch.setenv(k, v)
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint})
    fs.mkdir("drops")
    yield fs
    server.stop()


def _sensor(instance, cursor=None):
    from dagster import build_sensor_context

    from pipeline_assets.upload_automation import upload_inbox_sensor

    result = upload_inbox_sensor(build_sensor_context(instance=instance, cursor=cursor))
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return result


def upload_job():
    from pipeline_assets.definitions import build_definitions

    return build_definitions().resolve_job_def("upload_job")


def test_s3_inbox_sensor_run_and_retry_from_failure(clean_db, workdir, instance, s3_inbox):
    from dagster import ReexecutionOptions, execute_job, reconstructable

    (workdir / "uploads.yaml").write_text("columns: {'Mobile': telephone}\n")   # not a type: the run fails
    s3_inbox.pipe("drops/inbox/leads march.csv", CSV.encode())
    s3_inbox.pipe("drops/inbox/.partial.csv", CSV.encode())                    # hidden: waits

    first = _sensor(instance)
    (req,) = first.run_requests
    assert req.run_config["ops"]["uploaded_files"]["config"]["path"] == "s3://drops/inbox/leads march.csv"
    assert req.partition_key.startswith("leads_march-")
    assert _sensor(instance, first.cursor).run_requests == []                  # seen once: no second run

    run_config = {**req.run_config, "execution": {"config": {"in_process": {}}}}
    tags = {**req.tags, "dagster/partition": req.partition_key}   # what the daemon puts on the sensor's run
    with execute_job(reconstructable(upload_job), instance, run_config=run_config, tags=tags) as failed:
        assert not failed.success
        failures = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
        assert [e.step_key for e in failures] == ["normalized_uploads"]
        assert "uploads.yaml: columns.Mobile" in str(failures[0].event_specific_data.error)
        failed_run_id = failed.run_id

    assert (workdir / "lake" / f"uploaded_files/upload={req.partition_key}/leads march.csv").read_text() == CSV

    (workdir / "uploads.yaml").write_text("columns: {'Mobile': phone}\n")     # fixed: retry from the failure
    # As the UI's "Re-execute from failure": the parent's config and tags, failed steps only.
    parent = instance.get_run_by_id(failed_run_id)
    with execute_job(reconstructable(upload_job), instance, run_config=parent.run_config, tags=parent.tags,
                     reexecution_options=ReexecutionOptions.from_failure(failed_run_id, instance)) as retry:
        assert retry.success
        done = {e.step_key for e in retry.all_events if e.event_type_value == "STEP_SUCCESS"}
        assert done == {"normalized_uploads", "postgres__contacts"}            # the copy is not redone

    with psycopg.connect(clean_db) as conn:
        rows = conn.execute("SELECT count(*), count(*) FILTER (WHERE valid), min(phone) FROM core.contacts "
                            "WHERE upload_key = %s", (req.partition_key,)).fetchone()
        status = conn.execute("SELECT status, total_rows, uri FROM pipeline.uploads").fetchall()
    assert rows == (20, 20, "+12125551000")
    assert status == [("completed", 20, "s3://drops/inbox/leads march.csv")]
