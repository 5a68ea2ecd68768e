"""Checks every page must pass at every width: a screenshot kept for CI, no sideways scroll, axe-core.

axe-core comes from npm (package.json pins it; `make test` runs `npm ci`). It is injected with
`page.evaluate(source)`, which the page's CSP does not block, so the pages are checked under
their real CSP (a `bypass_csp` context would hide a blocked inline script).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AXE_PATH = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = ((1280, 900), (390, 844))
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_source() -> str:
    if not AXE_PATH.exists():
        message = f"axe-core is not installed at {AXE_PATH} (run `npm ci`, or `make test`)"
        if os.environ.get("REQUIRE_BROWSER", "") not in ("", "0"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE_PATH.read_text(encoding="utf-8")


@dataclass
class PageChecker:
    """Runs the checks on the page as it is now and collects failures, so one run lists them all."""

    output_dir: Path
    axe: str
    failures: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def shots(self) -> Path:
        path = self.output_dir / "screenshots"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def check(self, page, name: str, *, exclude: list[str] | None = None) -> None:
        width = page.viewport_size["width"]
        label = f"{name}@{width}"
        self.checked.append(label)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(self.shots / f"{name}-{width}.png"), full_page=True)

        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        inner_width = page.evaluate("window.innerWidth")
        if scroll_width > inner_width:
            wide = page.evaluate(WIDEST_ELEMENTS)
            self.failures.append(f"{label}: scrolls sideways ({scroll_width}px > {inner_width}px); widest: {wide}")

        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(self.axe)
        context = {"include": [["html"]], "exclude": [[sel] for sel in exclude or []]}
        result = page.evaluate(
            "([context, tags]) => axe.run(context, "
            "{runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
            [context, AXE_TAGS],
        )
        for violation in result["violations"]:
            targets = [", ".join(map(str, node["target"])) for node in violation["nodes"][:4]]
            rule = f"{violation['id']} ({violation['impact']}): {violation['help']}"
            self.failures.append(f"{label}: axe {rule} — {targets}")

    def assert_clean(self) -> None:
        report = "\n".join(self.failures)
        (self.output_dir / "page-checks.txt").write_text(
            json.dumps({"checked": self.checked, "failures": self.failures}, indent=2), encoding="utf-8"
        )
        assert not self.failures, f"{len(self.failures)} page check(s) failed:\n{report}"


WIDEST_ELEMENTS = """
() => {
  const limit = window.innerWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right > limit + 1 && r.width > 0) {
      out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
               (typeof el.className === 'string' && el.className
                  ? '.' + el.className.trim().split(/\\s+/).join('.') : '') +
               ' ' + Math.round(r.right) + 'px');
    }
  }
  return out.slice(0, 6);
}
"""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
