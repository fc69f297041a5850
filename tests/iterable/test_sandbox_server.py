"""The sandbox as a server: lifecycle, persistence, inspection endpoints and the command line."""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from mapping.iterable.sandbox import (
    SANDBOX_API_KEY,
    SEED_FIELDS,
    Faults,
    SandboxError,
    SandboxServer,
    start_sandbox,
)
from mapping.iterable.sandbox.cli import (
    add_cli_parser,
    default_data_dir,
    faults_from_args,
    is_loopback,
    run_sandbox_command,
)
from tests.contract import ContractTransport, validate_response

REPO = Path(__file__).resolve().parents[2]


def checked_client(server: SandboxServer, key: str = SANDBOX_API_KEY):
    """A client whose every exchange is contract-checked; check `.violations` after use."""
    transport = ContractTransport()
    client = httpx.Client(base_url=server.base_url, headers={"Api-Key": key},
                          transport=transport, timeout=10)
    return client, transport


@pytest.fixture
def api(sandbox, contract_transport):
    with httpx.Client(base_url=sandbox.base_url, headers={"Api-Key": SANDBOX_API_KEY},
                      transport=contract_transport, timeout=10) as client:
        yield client


def fill(api):
    """A small project: a new list, users on two lists, one new field."""
    list_id = api.post("/api/lists", json={"name": "Kept list"}).json()["listId"]
    api.post("/api/lists/subscribe", json={"listId": 101, "subscribers": [
        {"email": "ann@example.com", "dataFields": {"firstName": "Ann", "shoeSize": 38}},
        {"email": "bob@example.com", "dataFields": {"firstName": "Bob"}},
    ]})
    api.post("/api/lists/subscribe", json={"listId": list_id, "subscribers": [
        {"email": "ann@example.com"}]})
    return list_id


# --- lifecycle -------------------------------------------------------------------------------


def test_start_on_a_free_loopback_port_and_stop_without_leaking_threads(tmp_path):
    before = set(threading.enumerate())
    first = start_sandbox(tmp_path / "a")
    second = start_sandbox(tmp_path / "b")
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", first.base_url)
        assert first.port != second.port
        assert first.api_key == SANDBOX_API_KEY
        assert first.data_dir == tmp_path / "a"
        assert first.running
    finally:
        first.stop()
        second.stop()
    assert set(threading.enumerate()) <= before
    assert not first.running
    first.stop()  # stopping twice is harmless
    with pytest.raises(SandboxError, match="start a new"):
        first.start()


def test_context_manager(tmp_path):
    with SandboxServer(tmp_path) as server:
        response = httpx.get(f"{server.base_url}/_sandbox/state",
                             headers={"Api-Key": server.api_key})
        assert response.status_code == 200
    assert not server.running


def test_a_busy_port_fails_with_a_clear_error(tmp_path):
    with start_sandbox(tmp_path / "a") as server:
        with pytest.raises(SandboxError, match="choose another --port"):
            start_sandbox(tmp_path / "b", port=server.port)


def test_state_survives_a_restart(tmp_path):
    with start_sandbox(tmp_path) as server:
        server.add_key("read-key-kept", "read_only")
        client, transport = checked_client(server)
        with client:
            list_id = fill(client)
        server.set_drop_unknown_fields(True)
        assert not transport.violations
    with start_sandbox(tmp_path) as server:
        client, transport = checked_client(server)
        with client:
            names = {item["id"]: item["name"] for item in client.get("/api/lists").json()["lists"]}
            assert names[list_id] == "Kept list"
            assert client.get("/api/lists/101/size").text == "2"
            assert client.get("/api/users/getFields").json()["fields"]["shoeSize"] == "long"
            state = client.get("/_sandbox/state").json()
            assert state["userCount"] == 2
            assert state["project"]["dropUnknownFields"] is True
        assert not transport.violations
        reader, transport = checked_client(server, "read-key-kept")
        with reader:
            assert reader.get("/api/lists").status_code == 200
        assert not transport.violations


def test_reset_starts_from_the_seed(tmp_path):
    with start_sandbox(tmp_path) as server:
        client, _ = checked_client(server)
        with client:
            fill(client)
    with start_sandbox(tmp_path, reset=True) as server:
        client, transport = checked_client(server)
        with client:
            assert [item["id"] for item in client.get("/api/lists").json()["lists"]] == [
                105, 104, 103, 102, 101]
            assert client.get("/api/users/getFields").json()["fields"] == SEED_FIELDS
            assert client.get("/_sandbox/state").json()["userCount"] == 0
        assert not transport.violations


def test_reset_over_http(api):
    fill(api)
    assert api.post("/_sandbox/reset").status_code == 200
    assert api.get("/_sandbox/state").json()["userCount"] == 0
    assert api.get("/api/users/getFields").json()["fields"] == SEED_FIELDS


def test_keys_given_at_start(tmp_path):
    keys = {"ro-key": "read_only", "eu-key": ("server_side", "eu")}
    with start_sandbox(tmp_path, keys=keys, region="eu") as server:
        for key, expected in (("ro-key", 401), ("eu-key", 200)):
            client, transport = checked_client(server, key)
            with client:
                response = client.post("/api/lists", json={"name": "x"})
            assert response.status_code == expected
            assert not transport.violations


def test_the_database_keeps_no_api_key(tmp_path):
    with start_sandbox(tmp_path) as server:
        server.add_key("secret-key-do-not-store", "server_side")
    content = b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.is_file())
    assert b"secret-key-do-not-store" not in content
    assert SANDBOX_API_KEY.encode() not in content


def test_data_dir_and_database_are_private(tmp_path):
    data_dir = tmp_path / "new-sandbox"
    with start_sandbox(data_dir) as server:
        with checked_client(server)[0] as client:
            client.post("/api/lists/subscribe", json={
                "listId": 101, "subscribers": [{"email": "private@example.com"}]})
        modes = {path.name: path.stat().st_mode & 0o777 for path in data_dir.iterdir()}
    assert data_dir.stat().st_mode & 0o777 == 0o700
    assert modes["sandbox.sqlite"] == 0o600
    assert modes["sandbox.sqlite-wal"] == 0o600
    assert set(modes.values()) == {0o600}


def test_an_existing_readable_database_is_narrowed(tmp_path):
    with start_sandbox(tmp_path) as server:
        server.add_key("kept-key", "server_side")
    database = tmp_path / "sandbox.sqlite"
    database.chmod(0o644)
    with start_sandbox(tmp_path) as server:
        assert server.store.key_info("kept-key") is not None  # the data is still there
    assert database.stat().st_mode & 0o777 == 0o600


def test_invalid_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="region"):
        SandboxServer(tmp_path, region="asia")
    with start_sandbox(tmp_path) as server:
        with pytest.raises(ValueError, match="key type"):
            server.add_key("k", "admin")


# --- inspection endpoints --------------------------------------------------------------------


def test_state_shows_lists_with_sizes_fields_and_user_count(api):
    list_id = fill(api)
    state = api.get("/_sandbox/state").json()
    sizes = {item["id"]: item["size"] for item in state["lists"]}
    assert sizes[101] == 2
    assert sizes[list_id] == 1
    assert sizes[102] == 0
    assert state["fields"]["shoeSize"] == "long"
    assert state["userCount"] == 2
    assert state["rateLimits"]["POST /api/users/bulkUpdate"] == "5/1s"


def test_users_of_a_list_with_paging(api):
    list_id = fill(api)
    page = api.get("/_sandbox/users", params={"listId": 101, "limit": 1}).json()
    assert page["total"] == 2
    assert len(page["users"]) == 1
    assert page["users"][0]["email"] == "ann@example.com"
    second = api.get("/_sandbox/users", params={"listId": 101, "limit": 1, "offset": 1}).json()
    assert second["users"][0]["email"] == "bob@example.com"
    only_ann = api.get("/_sandbox/users", params={"listId": list_id}).json()
    assert [user["email"] for user in only_ann["users"]] == ["ann@example.com"]
    everyone = api.get("/_sandbox/users").json()
    assert everyone["total"] == 2


def test_users_of_an_unknown_list(api):
    response = api.get("/_sandbox/users", params={"listId": 999})
    assert response.status_code == 400
    assert response.json()["msg"] == "error.lists.invalidListId(999)"


def test_one_users_profile(api):
    list_id = fill(api)
    user = api.get("/_sandbox/user", params={"email": "ANN@example.com"}).json()["user"]
    assert user["dataFields"]["shoeSize"] == 38
    assert user["listIds"] == [101, list_id]
    response = api.get("/_sandbox/user", params={"email": "nobody@example.com"})
    assert response.status_code == 404
    assert response.json()["code"] == "NotFound"


def test_project_setting_over_http(api):
    assert api.get("/_sandbox/project").json()["drop_unknown_fields"] is False
    assert api.post("/_sandbox/project", json={"drop_unknown_fields": True}).status_code == 200
    body = api.post("/api/users/bulkUpdate", json={"users": [
        {"email": "a@example.com", "dataFields": {"newThing": 1}}]}).json()
    assert body["filteredOutFields"] == ["newThing"]
    response = api.post("/_sandbox/project", json={"dropUnknown": True})
    assert response.status_code == 400
    assert "drop_unknown_fields" in response.json()["msg"]


def test_forget_by_user_id(api):
    api.post("/api/users/bulkUpdate", json={"users": [
        {"email": "c@example.com", "dataFields": {"userId": "cust-9"}}]})
    assert api.post("/_sandbox/forget", json={"userId": "cust-9"}).status_code == 200
    body = api.post("/api/users/bulkUpdate", json={"users": [
        {"userId": "cust-9", "preferUserId": True}, {"email": "c@example.com"}]}).json()
    assert body["failedUpdates"]["forgottenUserIds"] == ["cust-9"]
    assert body["failedUpdates"]["forgottenEmails"] == ["c@example.com"]


def test_request_log_counts_each_user_once_per_accepted_request(api):
    api.post("/api/lists/subscribe", json={"listId": 101, "subscribers": [
        {"email": "a@example.com"}, {"email": "user @example.com"}]})
    api.post("/api/lists/subscribe", json={"listId": 101, "subscribers": [{"email": "a@example.com"}]})
    api.get("/api/lists")
    log = api.get("/_sandbox/requests").json()
    assert log["endpoints"]["POST /api/lists/subscribe"] == {"requests": 2, "statuses": {"200": 2}}
    assert log["received"]["POST /api/lists/subscribe"] == {"a@example.com": 2}
    only = api.get("/_sandbox/requests", params={"endpoint": "GET /api/lists"}).json()
    assert only["received"] == {}


def test_concurrent_writes_keep_every_user(sandbox):
    """Bulk writes run in worker threads, so concurrent requests must each be applied once."""
    sandbox.set_rate_limits(False)
    shared = [f"shared{index}@example.com" for index in range(50)]

    def bulk_body(thread: int, number: int) -> dict:
        own = [f"t{thread}-{number}-{index}@example.com" for index in range(100)]
        emails = own + (shared if number == 0 else [])
        return {"users": [{"email": email, "dataFields": {"thread": thread, "city": "Lagos"}}
                          for email in emails]}

    answers: list[tuple[str, int, int | None]] = []

    def writer(thread: int) -> None:
        client, transport = checked_client(sandbox)
        with client:
            for number in range(3):
                response = client.post("/api/users/bulkUpdate", json=bulk_body(thread, number))
                answers.append(("bulk", response.status_code, response.json()["successCount"]))
                update = client.post("/api/users/update", json={
                    "email": f"single{thread}-{number}@example.com",
                    "dataFields": {"thread": thread},
                })
                answers.append(("update", update.status_code, None))
                answers.append(("read", client.get("/api/users/getFields").status_code, None))
        assert transport.violations == []

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert {status for _, status, _ in answers} == {200}
    assert sorted(count for kind, _, count in answers if kind == "bulk") == [100] * 12 + [150] * 6
    with checked_client(sandbox)[0] as client:
        log = client.get("/_sandbox/requests").json()
        state = client.get("/_sandbox/state").json()
    assert state["userCount"] == 6 * 3 * 100 + len(shared) + 6 * 3
    received = log["received"]["POST /api/users/bulkUpdate"]
    assert len(received) == 6 * 3 * 100 + len(shared)
    assert all(received[email] == 6 for email in shared)
    assert sum(received.values()) == 6 * 3 * 100 + 6 * len(shared)
    assert len(log["received"]["POST /api/users/update"]) == 6 * 3
    bulk_log = log["endpoints"]["POST /api/users/bulkUpdate"]
    assert bulk_log == {"requests": 18, "statuses": {"200": 18}}
    assert log["endpoints"]["GET /api/users/getFields"]["requests"] == 18
    assert state["fields"]["thread"] == "long"


def test_inspection_needs_a_server_side_key(sandbox, contract_transport):
    sandbox.add_key("ro", "read_only")
    with httpx.Client(base_url=sandbox.base_url, transport=contract_transport) as raw:
        for headers in ({}, {"Api-Key": "ro"}):
            response = raw.get("/_sandbox/state", headers=headers)
            assert response.status_code == 401
            assert response.json()["code"] == "BadApiKey"


def test_every_error_body_is_an_iterable_api_response(sandbox, api):
    """The sandbox's own JSON errors all match IterableApiResponse (validated again here
    explicitly, besides the contract transport)."""
    sandbox.add_key("mobile-key", "mobile")
    responses = [
        api.post("/api/lists", json={"name": ""}),
        api.post("/api/lists/subscribe", json={"listId": 104, "subscribers": []}),
        api.get("/api/lists/555/size"),
        api.post("/api/users/bulkUpdate", json={"users": [
            {"email": "a@example.com", "dataFields": {"consent": "yes"}}]}),
        api.post("/api/users/update", json={"email": "user @example.com"}),
        api.get("/api/lists", headers={"Api-Key": "mobile-key"}),
        api.get("/_sandbox/user", params={"email": "none@example.com"}),
        httpx.post(f"{sandbox.base_url}/api/users/bulkUpdate",  # not JSON: sent raw
                   content=b"x" * (4 * 1024 * 1024 + 1),
                   headers={"content-type": "application/json", "Api-Key": SANDBOX_API_KEY}),
    ]
    sandbox.set_faults(Faults(error_429_rate=1.0))
    responses.append(api.get("/api/lists"))
    statuses = [response.status_code for response in responses]
    assert statuses == [400, 400, 400, 400, 400, 401, 404, 413, 429]
    for response in responses:
        assert response.headers["content-type"].startswith("application/json")
        validate_response("IterableApiResponse", response.json())


# --- command line ----------------------------------------------------------------------------


def parse_sandbox_args(argv):
    parser = argparse.ArgumentParser(prog="python -m mapping")
    add_cli_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["sandbox", *argv])


def test_cli_parser_defaults(workbench_home):
    args = parse_sandbox_args([])
    assert (args.host, args.port, args.data_dir, args.reset) == ("127.0.0.1", 8765, None, False)
    assert args.handler is run_sandbox_command
    assert default_data_dir() == workbench_home / "sandbox"


def test_cli_fault_flags():
    args = parse_sandbox_args([
        "--latency-ms", "50", "--error-rate-429", "0.1", "--error-rate-5xx", "0.2",
        "--drop-rate", "0.05", "--slow-list-seconds", "3", "--subscribe-rate-limit", "2",
        "--retry-after", "1", "--seed", "9", "--no-rate-limits", "--region", "eu",
    ])
    assert faults_from_args(args) == Faults(
        latency_ms=50, error_429_rate=0.1, error_5xx_rate=0.2, drop_rate=0.05,
        slow_list_seconds=3, subscribe_rate_limit=2, seed=9, retry_after_seconds=1,
    )
    assert args.no_rate_limits
    assert args.region == "eu"


@pytest.mark.parametrize("argv", [["--error-rate-429", "1.5"], ["--drop-rate", "x"],
                                  ["--region", "asia"], ["--latency-ms", "-1"]])
def test_cli_rejects_bad_flags(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse_sandbox_args(argv)
    assert stopped.value.code == 2


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("192.168.1.10", False), ("example.com", False),
])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_cli_refuses_a_non_loopback_host_without_allow_remote(tmp_path, capsys):
    args = parse_sandbox_args(["--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert run_sandbox_command(args) == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert not (tmp_path / "sandbox.sqlite").exists()


def test_cli_runs_in_the_foreground_until_stopped(tmp_path):
    args = parse_sandbox_args(["--port", "0", "--data-dir", str(tmp_path), "--reset"])
    out, stop, result = io.StringIO(), threading.Event(), {}
    runner = threading.Thread(
        target=lambda: result.setdefault("code", run_sandbox_command(args, out=out, stop_event=stop))
    )
    runner.start()
    try:
        for _ in range(500):
            match = re.search(r"running at (http://\S+)", out.getvalue())
            if match:
                break
            runner.join(0.01)
        assert match, out.getvalue()
        assert SANDBOX_API_KEY in out.getvalue()
        response = httpx.get(f"{match.group(1)}/api/lists", headers={"Api-Key": SANDBOX_API_KEY})
        assert response.status_code == 200
    finally:
        stop.set()
        runner.join(10)
    assert result["code"] == 0
    assert "stopped" in out.getvalue()


@pytest.mark.slow
def test_cli_as_a_process_stops_on_sigterm(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "mapping.iterable.sandbox", "--port", "0",
         "--data-dir", str(tmp_path)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        match = re.search(r"running at (http://127\.0\.0\.1:\d+)", line)
        assert match, line + process.stderr.read()
        response = httpx.get(f"{match.group(1)}/api/lists", headers={"Api-Key": SANDBOX_API_KEY})
        assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(20)
    assert code == 0


def test_no_api_key_reaches_the_log(sandbox, caplog):
    caplog.set_level("DEBUG")
    sandbox.add_key("read-only-key-in-query", "read_only")
    with httpx.Client(base_url=sandbox.base_url, timeout=10) as raw:
        raw.get("/api/lists", params={"api_key": SANDBOX_API_KEY})
        raw.get("/api/lists", params={"api_key": "wrong-key-in-query"})
        raw.post("/api/lists/subscribe", params={"api_key": "read-only-key-in-query"},
                 json={"listId": 101, "subscribers": [{"email": "a@example.com"}]})
        raw.post("/api/users/bulkUpdate", headers={"Api-Key": SANDBOX_API_KEY},
                 json={"users": [{"email": "a@example.com", "dataFields": {"consent": "x"}}]})
    # The test's own httpx client logs its URLs; only the server's records matter here.
    server_lines = [record.getMessage() for record in caplog.records
                    if record.name.startswith(("mapping.iterable.sandbox", "uvicorn"))]
    assert server_lines  # the sandbox did log these requests
    for key in (SANDBOX_API_KEY, "wrong-key-in-query", "read-only-key-in-query"):
        assert not [line for line in server_lines if key in line]
