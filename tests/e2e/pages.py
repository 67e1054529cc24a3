"""Helpers for checking pages in the browser: axe-core (WCAG 2.1 A/AA rules, zero violations
allowed), screenshots under tests/e2e/artifacts/, keyboard-only navigation."""

from __future__ import annotations

import json

from tests.e2e.conftest import ARTIFACTS, AXE

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


async def new_context(browser, **options):
    """A browser context with axe-core loaded into every page. It is added as an init script
    (evaluated by the browser itself) rather than a <script> tag, so the pages keep their real
    Content-Security-Policy (no inline script) during the test, and any violation fails it."""
    context = await browser.new_context(**options)
    await context.add_init_script(path=str(AXE))
    await context.add_init_script(script="window.__cspViolations = [];"
                                  " document.addEventListener('securitypolicyviolation',"
                                  " e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));")
    return context


async def check_page(page, name: str) -> None:
    """Screenshot, then axe-core: every WCAG 2.1 A and AA rule passes on this page."""
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert await page.evaluate("typeof window.axe !== 'undefined'"), "axe-core is not loaded (see new_context)"
    assert await page.evaluate("window.__cspViolations") == [], f"Content-Security-Policy violations on {name}"
    result = await page.evaluate(
        "async (tags) => { const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})); }", WCAG_TAGS)
    assert result == [], f"axe-core violations on {name} ({page.url}):\n{json.dumps(result, indent=2)}"


async def tab_to(page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching ``selector`` has the focus (keyboard only), and
    check the focus is visible (an outline or a box-shadow)."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            visible = await page.evaluate(
                "() => { const s = getComputedStyle(document.activeElement);"
                " return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none'; }")
            assert visible, f"the focus on {selector} is not visible"
            return
    raise AssertionError(f"{selector} never received the focus with Tab on {page.url}")
