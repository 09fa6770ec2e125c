"""``isocross serve`` (the exchange service) and ``isocross accounts …`` (API keys).

Both work on the same database: ``--database`` is a data directory (the embedded SQLite
default, ``./.isocross/``), a SQLite file or a ``postgresql://`` URL. Keys are managed while
the server runs; a new account is opened in the exchange the first time its key is used (or
when the server starts), a revoked key stops working within ``key_cache_s`` (2 s).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from isocross.api.config import DEFAULT_DATA_DIR, ServiceConfig

if TYPE_CHECKING:
    from isocross.api.keys import ApiKey, KeyStore

DatabaseOpt = Annotated[
    str,
    typer.Option(
        "--database",
        "-d",
        help="Data directory (embedded SQLite), SQLite file or postgresql:// URL.",
        envvar="ISOCROSS_DATABASE",
    ),
]
SchemaOpt = Annotated[
    str | None, typer.Option("--schema", help="PostgreSQL schema to keep the store in.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]

accounts = typer.Typer(
    help="API accounts and keys (permissions: read, trade, transfer).", no_args_is_help=True
)


def _keys(database: str, schema: str | None) -> KeyStore:
    from isocross.api.keys import KeyStore

    return KeyStore.open(database, schema=schema)


def _key_json(key: ApiKey) -> dict[str, object]:
    data: dict[str, object] = {
        "account_id": key.account_id,
        "api_key": key.api_key,
        "permissions": sorted(p.value for p in key.permissions),
        "label": key.label,
        "created_ms": key.created_ms,
        "revoked_ms": key.revoked_ms,
    }
    if key.secret:
        data["secret"] = key.secret
    return data


def _print_key(key: ApiKey, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(_key_json(key)))
        return
    typer.echo(f"account:     {key.account_id}")
    typer.echo(f"api key:     {key.api_key}")
    typer.echo(f"secret:      {key.secret}   (shown once: keep it)")
    typer.echo(f"permissions: {', '.join(sorted(p.value for p in key.permissions))}")


def _fail(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(2)


@accounts.command("create")
def create(
    account_id: Annotated[str, typer.Argument(help="The account id (letters, digits, _-.).")],
    permissions: Annotated[str, typer.Option(help="Comma-separated.")] = "read,trade,transfer",
    fee_tier: Annotated[str, typer.Option(help="VIP0, VIP1, VIP9 or MM.")] = "VIP0",
    label: Annotated[str, typer.Option(help="A note kept with the key.")] = "",
    database: DatabaseOpt = str(DEFAULT_DATA_DIR),
    schema: SchemaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register an account and issue its first key."""
    from isocross.api.keys import KeyManagementError, parse_permissions

    store = _keys(database, schema)
    try:
        key = store.create_account(
            account_id, fee_tier=fee_tier, label=label, permissions=parse_permissions(permissions)
        )
    except KeyManagementError as exc:
        _fail(str(exc))
    finally:
        store.close()
    _print_key(key, as_json)


@accounts.command("add-key")
def add_key(
    account_id: Annotated[str, typer.Argument(help="A registered account.")],
    permissions: Annotated[str, typer.Option(help="Comma-separated.")] = "read",
    label: Annotated[str, typer.Option(help="A note kept with the key.")] = "",
    database: DatabaseOpt = str(DEFAULT_DATA_DIR),
    schema: SchemaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue another key for an account (e.g. a read-only one)."""
    from isocross.api.keys import KeyManagementError, parse_permissions

    store = _keys(database, schema)
    try:
        key = store.add_key(account_id, parse_permissions(permissions), label=label)
    except KeyManagementError as exc:
        _fail(str(exc))
    finally:
        store.close()
    _print_key(key, as_json)


@accounts.command("revoke")
def revoke(
    api_key: Annotated[str, typer.Argument(help="The key to revoke.")],
    database: DatabaseOpt = str(DEFAULT_DATA_DIR),
    schema: SchemaOpt = None,
) -> None:
    """Revoke a key (a running server stops accepting it within 2 s)."""
    store = _keys(database, schema)
    try:
        done = store.revoke(api_key)
    finally:
        store.close()
    if not done:
        _fail(f"no active key {api_key!r}")
    typer.echo(f"revoked {api_key}")


@accounts.command("list")
def list_accounts(
    database: DatabaseOpt = str(DEFAULT_DATA_DIR),
    schema: SchemaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every registered account with its keys (secrets are never listed)."""
    store = _keys(database, schema)
    try:
        listing = [(a, store.keys(a.account_id)) for a in store.accounts()]
    finally:
        store.close()
    if as_json:
        rows = [
            {
                "account_id": a.account_id,
                "fee_tier": a.fee_tier,
                "label": a.label,
                "keys": [_key_json(k) for k in keys],
            }
            for a, keys in listing
        ]
        typer.echo(json.dumps(rows))
        return
    for a, keys in listing:
        typer.echo(f"{a.account_id}  (fee tier {a.fee_tier}) {a.label}")
        for k in keys:
            state = "active" if k.active else "revoked"
            perms = ",".join(sorted(p.value for p in k.permissions))
            typer.echo(f"    {k.api_key}  {perms}  {state}")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    database: DatabaseOpt = str(DEFAULT_DATA_DIR),
    schema: SchemaOpt = None,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Run the demo market (feed, market maker).")
    ] = True,
    feed_interval: Annotated[float, typer.Option(help="Seconds between index ticks.")] = 1.0,
    tick_interval: Annotated[float, typer.Option(help="Seconds between risk ticks.")] = 5.0,
    index_data: Annotated[
        str | None, typer.Option(help="Directory of 1m feather candles to replay as the index.")
    ] = None,
    weight_limit: Annotated[int, typer.Option(help="Request weight per key and minute.")] = 2400,
    log_format: Annotated[str, typer.Option(help="json or text.")] = "json",
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
) -> None:
    """Run the exchange service: native API, Binance-compatible /fapi, WebSockets."""
    import logging

    import uvicorn

    from isocross.api import logs
    from isocross.api.app import create_asgi

    config = replace(
        ServiceConfig(),
        database=database,
        schema=schema,
        demo=demo,
        feed_interval_s=feed_interval,
        tick_interval_s=tick_interval,
        index_data=index_data,
        weight_limit=weight_limit,
        log_json=log_format == "json",
    )
    logs.configure(json_lines=config.log_json)
    if not access_log:
        logging.getLogger("isocross.api.access").setLevel(logging.WARNING)
    demo_key = _demo_key(database, schema) if demo else None
    base = f"http://{host}:{port}"
    lines = [
        f"isocross is serving on {base}",
        f"  web screen      {base}/",
        f"  API docs        {base}/docs   (OpenAPI: {base}/openapi.json)",
        f"  Binance USDⓈ-M  {base}/fapi   (ccxt binanceusdm: replace https://fapi.binance.com)",
        f"  streams         ws://{host}:{port}/ws/btcusdt@depth · /stream?streams=… · "
        "/api/v1/ws?listenKey=…",
        f"  health/metrics  {base}/health · {base}/metrics",
        f"  database        {database}",
    ]
    if demo_key is not None:
        lines += [
            "  demo market     on (index feed, market maker); faucet: POST /api/v1/faucet,",
            "                  new funded account: POST /api/v1/demo/signup",
            f"  demo account    {demo_key.account_id}: api key {demo_key.api_key}",
            f"                  secret {demo_key.secret}",
        ]
    typer.echo("\n".join(lines))
    server = uvicorn.Server(
        uvicorn.Config(
            create_asgi(config),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            ws_max_size=64 * 1024,
            ws_per_message_deflate=False,
            proxy_headers=False,
            timeout_graceful_shutdown=5,
            lifespan="on",
        )
    )
    server.run()


def _demo_key(database: str, schema: str | None) -> ApiKey | None:
    """The ``demo`` account's key (created on the first demo run)."""
    store = _keys(database, schema)
    try:
        if store.account("demo") is None:
            return store.create_account("demo", label="demo account (make run)")
        for key in store.keys("demo"):
            if key.active:
                return store.lookup(key.api_key)
        return None
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``accounts`` to the ``isocross`` command."""
    app.command("serve")(serve)
    app.add_typer(accounts, name="accounts")


if __name__ == "__main__":  # pragma: no cover - ``python -m isocross.api.cli``
    root = typer.Typer(no_args_is_help=True, add_completion=False)
    register(root)
    root()
