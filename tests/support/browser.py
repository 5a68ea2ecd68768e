"""Helpers for browser tests."""

from __future__ import annotations

from pathlib import Path


def shot(page, output_dir: Path, name: str) -> Path:
    path = output_dir / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in_with_form(
    page,
    base_url: str,
    user_id: str,
    *,
    email: str | None = None,
    name: str | None = None,
    admin: bool = False,
    next_path: str = "/",
) -> None:
    """Signs the browser in through the dev sign-in form, as a learner would."""
    page.goto(f"{base_url}/dev/sign-in?next={next_path}")
    page.fill("#user_id", user_id)
    if email:
        page.fill("#email", email)
    if name:
        page.fill("#name", name)
    if admin:
        page.check("input[name=admin]")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
