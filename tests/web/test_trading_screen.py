"""Acceptance: the trading screen in a real browser against a real ``isocross serve``.

The trader's steps from the seeds: open the trade page, choose Isolated, adjust the leverage,
set the size, review (the estimated liquidation price in both modes, equal to the API's own
figure), confirm; the order fills against the demo's market maker; the position shows its
liquidation price (also drawn on the chart); adding margin moves it; switching the mode with
the position open is refused in the API's words; the ETH sell-off then raises a margin call
and liquidates the position, both shown live from the account's WebSocket.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from webscreen import LAPTOP, PHONE, Screen, Server, Signed, open_screen, overflowing

pytestmark = pytest.mark.acceptance
SYMBOL = "ETHUSDT"
QTY = "4"
LEVERAGE = 40
ADD = "60"


def grouped(value: str, places: int) -> str:
    """How the page writes a price: thousands separators, ``places`` decimals."""
    return f"{Decimal(value):,.{places}f}"


def page_errors(screen: Screen) -> list[str]:
    """What the page logged as errors, less the browser's line for each refused request (the
    page shows those refusals itself)."""
    return [e for e in screen.errors if "Failed to load resource" not in e]


def signed_in(screen: Screen, server: Server) -> Signed:
    page = screen.page
    page.click("#start-demo")
    page.wait_for_selector(".account-chip")
    page.wait_for_selector("#acct-wallet")
    session = screen.session()
    return Signed(server.base, session["api_key"], session["secret"])


def test_isolated_trade_from_review_to_liquidation(screen: Screen, server: Server) -> None:
    page = screen.page
    screen.shot("web-01-trade-page")
    api = signed_in(screen, server)
    assert page.inner_text("#acct-wallet").startswith("10,000.00")

    # Isolated, then 40x: both reach the exchange.
    page.click("#mode-isolated")
    page.wait_for_selector("#mode-isolated[aria-pressed=true]")
    page.locator("#leverage-input").fill(str(LEVERAGE))
    page.locator("#leverage-input").press("Tab")
    page.wait_for_selector(f"#leverage-ok:has-text('{LEVERAGE}x')")
    settings = {s["symbol"]: s for s in api.ok("GET", "/api/v1/symbols")}
    assert settings[SYMBOL]["margin_mode"] == "isolated"
    assert settings[SYMBOL]["leverage"] == LEVERAGE

    # A marketable limit buy, reviewed first.
    ask = Decimal(server.get(f"/api/v1/markets/{SYMBOL}/book", levels=5)["asks"][0][0])
    price = str((ask * Decimal("1.004")).quantize(Decimal("0.01")))
    page.fill("#price", price)
    page.fill("#size", QTY)
    page.click("#review-buy")
    page.wait_for_selector("#review-liq-isolated")
    screen.shot("web-02-review")
    preview = api.ok(
        "POST",
        "/api/v1/orders/preview",
        {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "qty": QTY, "price": price,
         "leverage": LEVERAGE},
    )  # fmt: skip
    for mode in ("isolated", "cross"):
        expected = preview["modes"][mode]["position"]["liquidation_price"]
        assert page.get_attribute(f"#review-liq-{mode}", "data-value") == expected
        assert page.inner_text(f"#review-liq-{mode}") == grouped(expected, 2)
    # The fee follows the limit price; cost and initial margin are taken at the mark, which
    # moves between the page's preview and ours.
    assert page.get_attribute("#review-fee", "data-value") == preview["fee"]
    shown_cost = Decimal(page.get_attribute("#review-cost", "data-value") or "0")
    assert abs(shown_cost - Decimal(preview["cost"])) < Decimal(preview["cost"]) / 20
    # Isolated sits much nearer the price than cross (the whole 10,000 backs a cross long).
    iso = Decimal(preview["modes"]["isolated"]["position"]["liquidation_price"])
    cross = Decimal(preview["modes"]["cross"]["position"]["liquidation_price"])
    assert cross < iso < Decimal(price)

    # Confirm: it fills against the market maker.
    page.click("#confirm-order")
    page.wait_for_selector(".notice[data-kind=order]:has-text('filled')")
    row = page.locator(f"tr.position[data-symbol={SYMBOL}]")
    row.wait_for()
    position = only_position(api)
    assert position["qty"] == QTY
    assert position["margin_mode"] == "isolated"
    assert position["leverage"] == LEVERAGE
    liq = position["liquidation_price"]
    assert row.locator("td.liq").get_attribute("data-value") == liq
    assert row.locator("td.liq").inner_text() == grouped(liq, 2)
    page.wait_for_selector(f".chip.liq[data-value='{liq}']")
    screen.shot("web-03-position")

    # Add margin: the liquidation price moves away from the mark.
    wallet = Decimal(position["isolated_wallet"])
    page.click(f"button[aria-label='Add margin to {SYMBOL}']")
    page.fill("#margin-amount", ADD)
    page.click("#margin-submit")
    page.wait_for_function(
        "([sel, old]) => { const el = document.querySelector(sel);"
        " return el && el.dataset.value && el.dataset.value !== old; }",
        arg=[f"tr.position[data-symbol={SYMBOL}] td.liq", liq],
    )
    moved = only_position(api)
    assert Decimal(moved["isolated_wallet"]) == wallet + Decimal(ADD)
    assert Decimal(moved["liquidation_price"]) < Decimal(liq)
    assert row.locator("td.liq").get_attribute("data-value") == moved["liquidation_price"]
    screen.shot("web-04-margin-added")

    # Switching to cross with the position open: refused, in the API's words, with the rule.
    page.click("#mode-cross")
    refusal = page.locator("#mode-refusal")
    refusal.wait_for()
    text = refusal.inner_text()
    assert "cannot change margin mode: ETHUSDT has an open position; close it first" in text
    assert "-4048" in text
    page.wait_for_selector("#mode-rule:has-text('open position')")
    assert page.get_attribute("#mode-isolated", "aria-pressed") == "true"
    screen.shot("web-05-mode-refused")

    # The sell-off: a margin call, then the liquidation, live.
    call = page.locator(".notice[data-kind=margin-call]").first
    call.wait_for(timeout=60_000)
    assert re.search(r"Margin call · ETHUSDT isolated", call.inner_text())
    screen.shot("web-06-margin-call")
    liquidated = page.locator(".notice[data-kind=liquidation]:has-text('Liquidated')")
    liquidated.wait_for(timeout=60_000)
    assert "in the book" in liquidated.inner_text()
    page.wait_for_selector("#no-positions")
    page.click("#tab-liquidations")
    page.wait_for_selector("#history-liquidations tbody tr")
    screen.shot("web-07-liquidated")

    calls = api.ok("GET", "/api/v1/history/margin-calls")
    steps = api.ok("GET", "/api/v1/history/liquidations")
    assert calls and steps
    assert min(c["seq"] for c in calls) < min(s["seq"] for s in steps)
    assert api.ok("GET", "/api/v1/positions") == []
    assert page_errors(screen) == []


def only_position(api: Signed) -> dict[str, Any]:
    rows = [p for p in api.ok("GET", "/api/v1/positions") if p["symbol"] == SYMBOL]
    assert len(rows) == 1, rows
    position: dict[str, Any] = rows[0]
    return position


def test_what_if_margin_modes_and_phone_width(browser: Any, server: Server) -> None:
    """The seeds' $1,000 example in the what-if panel, the bulk margin-mode page with a blocked
    symbol, keyboard use, a phone-width screen, and no request leaving the service."""
    screen = open_screen(browser, server.base, LAPTOP, "/?symbol=BTCUSDT")
    page = screen.page
    try:
        api = signed_in(screen, server)

        # The what-if preset: ETH −15 % in the $1,000 account (docs/concepts/cross-vs-isolated.md).
        page.click("#tab-what-if")
        page.click("#whatif-example")
        cards = page.locator(".whatif-card")
        cards.nth(1).wait_for()
        cross, isolated = cards.nth(0), cards.nth(1)
        assert "149.12 %" in cross.inner_text()
        assert "nothing liquidated" in cross.inner_text()
        assert "2,008.03" in isolated.locator("tr[data-symbol=ETHUSDT]").inner_text()
        assert "15,903.61" in cross.locator("tr[data-symbol=BTCUSDT]").inner_text()
        # Down 25 %: ETH's isolated wallet is gone, the cross pool still stands.
        page.click(".presets button[data-move='-25']")
        page.wait_for_selector(".whatif-card:nth-child(2) tr.dead[data-symbol=ETHUSDT]")
        assert cross.locator("tr.dead").count() == 0
        # Cross lost 250 of its 1,000; isolated only ETH's 200 (the docs' "maximum loss").
        assert cross.locator(".equity").get_attribute("data-value") == "750"
        assert isolated.locator(".equity").get_attribute("data-value") == "800"
        screen.shot("web-08-what-if-example")

        # Keyboard: the bottom tabs move with the arrow keys; the ticket works without a mouse
        # (arrow keys pick the order type, Enter reviews, the review takes the focus, Esc
        # goes back).
        page.focus("#tab-what-if")
        page.keyboard.press("ArrowLeft")
        assert page.evaluate("document.activeElement.id") == "tab-margin-calls"
        assert page.get_attribute("#tab-margin-calls", "aria-selected") == "true"
        page.focus("#type-limit")
        page.keyboard.press("ArrowRight")
        assert page.get_attribute("#type-market", "aria-checked") == "true"
        page.focus("#size")
        page.keyboard.type("0.002")
        page.keyboard.press("Enter")
        page.wait_for_selector("#review-liq-cross")
        assert page.evaluate("document.activeElement.id") == "confirm-order"
        page.keyboard.press("Escape")
        page.wait_for_selector("#ticket-form", state="visible")
        assert page.is_hidden("#review")

        # A resting order on BTCUSDT blocks it; the bulk switch says so and changes nothing.
        bid = Decimal(server.get("/api/v1/markets/BTCUSDT/book", levels=5)["bids"][-1][0])
        api.ok(
            "POST",
            "/api/v1/orders",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.002",
             "price": str((bid * Decimal("0.9")).quantize(Decimal("0.1")))},
        )  # fmt: skip
        page.click(".pages a[data-page=margin-modes]")
        page.wait_for_selector("#modes-table tr[data-symbol=BTCUSDT].blocked")
        assert "open order" in page.inner_text("#modes-table tr[data-symbol=BTCUSDT] td.why")
        for symbol in ("BTCUSDT", "SOLUSDT", "XRPUSDT"):
            page.check(f"input[data-symbol={symbol}]")
        page.check("#as-default")
        page.click("#apply-isolated")
        refusal = page.locator("#modes-refusal")
        refusal.wait_for()
        assert "BTCUSDT" in refusal.inner_text() and "no margin mode was changed" in (
            refusal.inner_text()
        )
        screen.shot("web-09-margin-modes-blocked")
        page.uncheck("input[data-symbol=BTCUSDT]")
        page.click("#apply-isolated")
        page.wait_for_selector("#modes-ok")
        page.wait_for_selector("#default-mode:has-text('Isolated')")
        settings = {s["symbol"]: s["margin_mode"] for s in api.ok("GET", "/api/v1/symbols")}
        assert settings["SOLUSDT"] == settings["XRPUSDT"] == "isolated"
        assert settings["BTCUSDT"] == "cross"
        screen.shot("web-10-margin-modes-done")
        assert page_errors(screen) == []
        # Everything the page loaded came from the service itself.
        assert all(url.startswith((server.base, "ws://127.0.0.1")) for url in screen.requests)
    finally:
        page.context.close()

    phone = open_screen(browser, server.base, PHONE, "/?symbol=ETHUSDT")
    try:
        p = phone.page
        p.click("#start-demo")
        p.wait_for_selector("#acct-wallet")
        assert overflowing(p) == []
        assert p.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        phone.shot("web-11-phone")
        assert page_errors(phone) == []
    finally:
        phone.page.context.close()
