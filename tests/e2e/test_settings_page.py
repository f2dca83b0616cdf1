"""The settings page in a real browser: notification choices, then deleting the account."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import PASSWORD, register


def test_save_a_webhook_then_delete_the_account(browser: Any, server: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    email = register(page, server)
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_test_id("email-enabled").uncheck()
    page.get_by_label("Webhook URL (optional)").fill("https://hooks.example.com/adanalysis")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("webhook-secret")).to_contain_text("whsec_")
    expect(page.get_by_role("link", name="Admin", exact=True)).to_have_count(0)

    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Your password, to delete your account").fill("not-my-password")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong password")
    page.get_by_label("Your password, to delete your account").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("tab", name="Create account")).to_be_visible()  # signed out
    r = httpx.post(f"{server}/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert r.status_code == 401, "the account is gone"
    context.close()
