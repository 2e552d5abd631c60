"""HttpClient against real local servers: retries, limits, redirects, guards."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from collect_server import LocalServer, Reply, free_port, source

from pipeline_assets.collect import HttpClient
from pipeline_assets.sources import SourceConfigError, parse_source
from pipeline_assets.collect.conditional import ValidatorStore
from pipeline_assets.collect.retry import backoff_delay, retry_after_seconds
from pipeline_assets.collect.security import host_allowed, is_public


def fetch(cfg: dict, url: str, *, validators: ValidatorStore | None = None, conditional: bool = False):
    async def go():
        async with HttpClient(parse_source(cfg), validators=validators) as client:
            return await client.fetch(url, conditional=conditional)
    return asyncio.run(go())


def fetch_many(cfg: dict, urls: list[str]):
    async def go():
        async with HttpClient(parse_source(cfg)) as client:
            return await asyncio.gather(*(client.fetch(u) for u in urls))
    return asyncio.run(go())


def counter_route(replies: list[Reply]):
    """Answers with replies[0], replies[1], ... then repeats the last one."""
    state = {"n": 0}

    def handler(req):
        i = min(state["n"], len(replies) - 1)
        state["n"] += 1
        return replies[i]
    return handler


@pytest.fixture
def srv():
    with LocalServer() as s:
        yield s


def test_ok_result_fields(srv):
    srv.route("/x", lambda r: Reply(body={"a": 1}, headers={"X-Test": "yes"}))
    res = fetch(source("t", "json_api", srv.url("/x")), srv.url("/x"))
    assert res.ok and res.status == 200 and res.attempts == 1
    assert res.url == res.final_url == srv.url("/x")
    assert res.headers["x-test"] == "yes" and res.body == b'{"a": 1}' and res.elapsed > 0


def test_429_retry_after_seconds_is_honoured(srv):
    srv.route("/x", counter_route([Reply(429, "slow down", {"Retry-After": "1"}), Reply(body={"ok": True})]))
    res = fetch(source("t", "json_api", srv.url("/x")), srv.url("/x"))
    hits = srv.hits_for("/x")
    assert res.ok and res.status == 200 and res.attempts == 2
    assert hits[1].at - hits[0].at >= 0.95  # waited the server's second, not the tiny backoff


def test_retry_after_http_date_capped_by_max_wait(srv):
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    srv.route("/x", counter_route([Reply(503, "busy", {"Retry-After": when}), Reply(body=[])]))
    cfg = source("t", "json_api", srv.url("/x"), http={"retry_after_max": 0.3})
    res = fetch(cfg, srv.url("/x"))
    hits = srv.hits_for("/x")
    assert res.ok and res.attempts == 2
    assert 0.25 <= hits[1].at - hits[0].at < 2.0


def test_burst_of_503_then_success(srv):
    srv.route("/x", counter_route([Reply(503)] * 3 + [Reply(body={"ok": 1})]))
    res = fetch(source("t", "json_api", srv.url("/x"), http={"max_attempts": 5}), srv.url("/x"))
    assert res.ok and res.status == 200 and res.attempts == 4


def test_5xx_until_attempts_run_out(srv):
    srv.route("/x", lambda r: Reply(500, "boom"))
    res = fetch(source("t", "json_api", srv.url("/x")), srv.url("/x"))
    assert not res.ok and res.status == 500 and res.attempts == 3
    assert "HTTP 500 after 3 attempts" in res.error and res.body == b"boom"


def test_404_is_not_retried(srv):
    res = fetch(source("t", "json_api", srv.url("/missing")), srv.url("/missing"))
    assert res.status == 404 and res.attempts == 1 and "HTTP 404" in res.error


def test_read_timeout_is_retried_then_reported(srv):
    srv.route("/slow", lambda r: Reply(body=[], delay=1.0))
    cfg = source("t", "json_api", srv.url("/slow"), http={"timeout": 0.2, "max_attempts": 2})
    start = time.monotonic()
    res = fetch(cfg, srv.url("/slow"))
    assert not res.ok and res.status is None and res.attempts == 2
    assert "read timeout" in res.error and time.monotonic() - start < 1.5


def test_connect_error_when_server_down():
    url = f"http://127.0.0.1:{free_port()}/x"
    res = fetch(source("t", "json_api", url, http={"max_attempts": 2}), url)
    assert not res.ok and res.attempts == 2 and "connect error" in res.error and url in res.error


def test_redirect_followed_on_allowed_host(srv):
    srv.route("/a", lambda r: Reply(302, headers={"Location": "/b?x=1"}))
    srv.route("/b", lambda r: Reply(body={"b": True}))
    res = fetch(source("t", "json_api", srv.url("/a")), srv.url("/a"))
    assert res.ok and res.url == srv.url("/a") and res.final_url == srv.url("/b?x=1") and res.attempts == 2


def test_redirect_to_disallowed_host_refused(srv):
    srv.route("/a", lambda r: Reply(302, headers={"Location": "http://evil.example.net/steal"}))
    res = fetch(source("dealer_api", "json_api", srv.url("/a")), srv.url("/a"))
    assert not res.ok and res.status is None
    assert "source dealer_api: redirect from" in res.error
    assert "'evil.example.net' is not in allowed_hosts" in res.error


def test_redirect_loop_stops(srv):
    srv.route("/loop", lambda r: Reply(302, headers={"Location": "/loop"}))
    res = fetch(source("t", "json_api", srv.url("/loop"), http={"max_redirects": 3}), srv.url("/loop"))
    assert "more than 3 redirects" in res.error and len(srv.hits_for("/loop")) == 4


def test_credentials_dropped_on_cross_host_redirect(srv, monkeypatch):
    monkeypatch.setenv("COLLECT_TEST_TOKEN", "s3cret")
    srv.route("/a", lambda r: Reply(302, headers={"Location": f"http://localhost:{srv.port}/b"}))
    srv.route("/b", lambda r: Reply(body=[]))
    cfg = source("t", "json_api", srv.url("/a"), auth={"type": "bearer", "token_env": "COLLECT_TEST_TOKEN"})
    cfg["allowed_hosts"] = ["127.0.0.1", "localhost"]
    res = fetch(cfg, srv.url("/a"))
    assert res.ok
    assert srv.hits_for("/a")[0].headers["authorization"] == "Bearer s3cret"
    assert "authorization" not in srv.hits_for("/b")[0].headers
    assert srv.hits_for("/b")[0].headers["host"] == f"localhost:{srv.port}"  # pinned, Host kept


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_private_address_refused_unless_allowed(srv, host):
    srv.route("/x", lambda r: Reply(body=[]))
    url = f"http://{host}:{srv.port}/x"
    cfg = source("t", "json_api", url, allow_private_networks=False)
    cfg["allowed_hosts"] = [host]
    res = fetch(cfg, url)
    assert not res.ok and "non-public address" in res.error and "allow_private_networks" in res.error
    assert srv.hits == []  # nothing was sent


def test_missing_token_env_names_source_and_variable(monkeypatch):
    monkeypatch.delenv("DEALER_API_TOKEN", raising=False)
    cfg = source("dealer_api", "json_api", "http://127.0.0.1:9/x",
                 auth={"type": "bearer", "token_env": "DEALER_API_TOKEN"})
    with pytest.raises(SourceConfigError, match="source dealer_api: auth.token_env names environment variable "
                                          "DEALER_API_TOKEN, which is not set"):
        HttpClient(parse_source(cfg))


def test_headers_user_agent_and_header_auth(srv, monkeypatch):
    monkeypatch.setenv("COLLECT_TEST_KEY", "k-123")
    srv.route("/x", lambda r: Reply(body=[]))
    cfg = source("t", "json_api", srv.url("/x"), auth={"type": "header", "header": "X-Api-Key",
                                                       "token_env": "COLLECT_TEST_KEY"},
                 http={"user_agent": "test-agent/1", "headers": {"Accept": "application/json"}})
    assert fetch(cfg, srv.url("/x")).ok
    h = srv.hits_for("/x")[0].headers
    assert h["user-agent"] == "test-agent/1" and h["accept"] == "application/json" and h["x-api-key"] == "k-123"


def test_proxies_used_round_robin(srv):
    with LocalServer() as pa, LocalServer() as pb:
        pa.route("*", lambda r: Reply(body="A"))
        pb.route("*", lambda r: Reply(body="B"))
        target = srv.url("/x")
        cfg = source("t", "json_api", target, http={"proxies": [pa.base, pb.base], "concurrency": 1})
        results = fetch_many(cfg, [target] * 4)
        assert sorted(r.body for r in results) == [b"A", b"A", b"B", b"B"]
        assert pa.hits[0].target == target  # the proxy got the absolute URL
        assert srv.hits == []


def test_conditional_request_not_modified(srv, tmp_path):
    def handler(req):
        if req.headers.get("if-none-match") == '"v1"':
            return Reply(304, headers={"ETag": '"v1"'})
        return Reply(body={"items": [1]}, headers={"ETag": '"v1"', "Last-Modified": "Mon, 16 Nov 2026 00:00:00 GMT"})
    srv.route("/x", handler)
    cfg = source("t", "json_api", srv.url("/x"))
    store_path = tmp_path / "validators.json"
    store = ValidatorStore(store_path)
    first = fetch(cfg, srv.url("/x"), validators=store, conditional=True)
    store.save()
    second = fetch(cfg, srv.url("/x"), validators=str(store_path), conditional=True)  # a path works too
    assert first.status == 200 and not first.not_modified
    assert second.status == 304 and second.not_modified and second.ok and second.body == b""
    assert second.headers["content-type"] == "application/json"  # from the stored response
    assert srv.hits_for("/x")[1].headers["if-modified-since"] == "Mon, 16 Nov 2026 00:00:00 GMT"


def test_rate_limit_spaces_requests(srv):
    srv.route("/x", lambda r: Reply(body=[]))
    cfg = source("t", "json_api", srv.url("/x"), http={"rate_limit": 20, "burst": 1, "concurrency": 8})
    fetch_many(cfg, [srv.url("/x")] * 6)
    times = sorted(h.at for h in srv.hits_for("/x"))
    assert times[-1] - times[0] >= 5 / 20 * 0.9


def test_per_host_concurrency_cap(srv):
    live = {"now": 0, "max": 0}
    lock = threading.Lock()

    def handler(req):
        with lock:
            live["now"] += 1
            live["max"] = max(live["max"], live["now"])
        time.sleep(0.05)
        with lock:
            live["now"] -= 1
        return Reply(body=[])
    srv.route("/x", handler)
    fetch_many(source("t", "json_api", srv.url("/x"), http={"concurrency": 2}), [srv.url("/x")] * 8)
    assert live["max"] == 2


def test_body_size_limit(srv):
    srv.route("/big", lambda r: Reply(body=b"x" * 5000))
    res = fetch(source("t", "json_api", srv.url("/big"), http={"max_body_mb": 0.001}), srv.url("/big"))
    assert not res.ok and "body larger than" in res.error


def test_host_allowed_patterns():
    allowed = ["api.example.com", "*.cdn.example.com"]
    assert host_allowed("API.example.com", allowed)
    assert host_allowed("a.cdn.example.com", allowed) and host_allowed("a.b.cdn.example.com", allowed)
    assert not host_allowed("cdn.example.com", allowed)
    assert not host_allowed("evilcdn.example.com", allowed)
    assert not host_allowed("api.example.com.evil.net", allowed)


@pytest.mark.parametrize("addr, public", [
    ("93.184.215.14", True), ("2606:4700::1111", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("240.0.0.1", False), ("::1", False), ("fe80::1", False), ("fc00::1", False), ("::ffff:127.0.0.1", False),
    ("ff02::1", False),
])
def test_public_address_classification(addr, public):
    assert is_public(ipaddress.ip_address(addr)) is public


def test_retry_after_parsing_and_backoff_bounds():
    now = datetime(2026, 11, 16, tzinfo=timezone.utc)
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    assert all(0 <= backoff_delay(n, 0.5, 4) <= min(4, 0.5 * 2 ** (n - 1)) for n in range(1, 10) for _ in range(20))
