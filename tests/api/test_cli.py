"""``isocross accounts …``: keys issued, listed, revoked from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from isocross.api.keys import KeyStore
from isocross.cli import app


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_accounts_create_list_add_key_and_revoke(tmp_path: Path) -> None:
    db = str(tmp_path / "data")

    code, out = run("accounts", "create", "alice", "--database", db, "--json")
    created = json.loads(out)
    _, reader = run(
        "accounts", "add-key", "alice", "--permissions", "read", "--database", db, "--json"
    )
    revoked = run("accounts", "revoke", json.loads(reader)["api_key"], "--database", db)
    _, listing = run("accounts", "list", "--database", db, "--json")
    (account,) = json.loads(listing)

    assert code == 0 and created["permissions"] == ["read", "trade", "transfer"]
    assert len(created["secret"]) == 64
    assert revoked[0] == 0
    assert [k["revoked_ms"] is None for k in account["keys"]] == [True, False]
    assert all("secret" not in k for k in account["keys"])
    store = KeyStore.open(db)
    try:
        assert store.lookup(created["api_key"]) is not None
    finally:
        store.close()


def test_account_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    db = str(tmp_path / "data")
    run("accounts", "create", "bob", "--database", db)

    again = run("accounts", "create", "bob", "--database", db)
    bad = run("accounts", "create", "carol", "--permissions", "withdraw", "--database", db)
    unknown = run("accounts", "revoke", "ff" * 32, "--database", db)

    assert [again[0], bad[0], unknown[0]] == [2, 2, 2]
    assert "already exists" in again[1] and "no active key" in unknown[1]
