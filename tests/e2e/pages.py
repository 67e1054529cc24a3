"""Helpers for checking pages in the browser: axe-core (WCAG 2.1 A/AA rules, zero violations
allowed), screenshots under tests/e2e/artifacts/, keyboard-only navigation."""

from __future__ import annotations

import json

from tests.e2e.conftest import ARTIFACTS, AXE, SCREENSHOTS

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


async def check_page(page, name: str, path=None) -> None:
    """Screenshot (to ``path``, else tests/e2e/artifacts/), then axe-core: every WCAG 2.1 A and
    AA rule passes on this page."""
    await page.screenshot(path=str(path or ARTIFACTS / f"{name}.png"), full_page=True)
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


async def check_look(page, name: str, *, city_front: bool = True) -> None:
    """The city's look on this page (issue 21), at the viewport's width and in the page's
    language: the screenshot under var/screenshots/<width>-<lang>/<name>.png, axe-core 0, the
    "Montréal" text mark, the footer's links (privacy, accessibility, terms, 311, the other
    language) on the identity front, nothing wider than the screen, and the account navigation
    on one line at 1280 px."""
    width = page.viewport_size["width"]
    lang = await page.evaluate("document.documentElement.lang")
    folder = SCREENSHOTS / f"{width}-{lang}"
    folder.mkdir(parents=True, exist_ok=True)
    await check_page(page, name, folder / f"{name}.png")
    assert (await page.inner_text("header .city-mark, header .mark")).strip() == "Montréal"
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow} px wider than a {width} px screen"
    if city_front:
        footer = page.locator("footer.site-footer")
        for href in ("/privacy", "/accessibility", "/terms", "tel:311"):
            assert await footer.locator(f"a[href='{href}']").count() == 1, f"no {href} in the footer of {name}"
        assert await footer.locator("a[hreflang]").count() == 1
        # the city's colours and type scale, one font for text, buttons and fields (README "The city's look")
        look = await page.evaluate("""() => ({
            band: getComputedStyle(document.querySelector('header.site-header')).borderTopColor,
            mark: getComputedStyle(document.querySelector('header .city-mark')).color,
            h1: document.querySelector('main h1') && getComputedStyle(document.querySelector('main h1')).fontSize,
            fonts: [...new Set([document.body, ...document.querySelectorAll(
                'main h1, main p, main button, main input:not([type=hidden]), main select, main textarea, nav a, footer a')]
                .map(e => getComputedStyle(e).fontFamily))]})""")
        assert look["band"] == look["mark"] == "rgb(208, 2, 27)", (name, look)
        assert look["h1"] in (None, "40px" if width >= 768 else "32px"), (name, look)
        assert len(look["fonts"]) == 1, (name, look["fonts"])
    if width >= 1280 and await page.locator("nav.account-nav li").count():
        tops = await page.eval_on_selector_all("nav.account-nav li", "items => items.map(i => i.offsetTop)")
        assert len(set(tops)) == 1, f"the account navigation of {name} takes more than one line at {width} px"
        assert not await page.is_visible("nav.account-nav summary"), f"a 'Menu' button on {name} at {width} px"
    elif await page.locator("nav.account-nav li").count():
        # a phone: the navigation collapsed behind "Menu" (opening it: test_look.py, no script)
        assert await page.is_visible("nav.account-nav summary"), f"no 'Menu' on {name} at {width} px"
        assert (await page.locator("nav.account-nav summary").bounding_box())["height"] >= 44
        shown = [await link.is_visible() for link in await page.locator("nav.account-nav a").all()]
        assert not any(shown), f"the navigation of {name} is not collapsed at {width} px"


async def check_menu_opens(page) -> None:
    """A phone: the "Menu" of the account navigation opens from the keyboard (Tab to it,
    Enter) and then shows every link whole on the screen, at least 44 px tall."""
    width = page.viewport_size["width"]
    await tab_to(page, "nav.account-nav summary")
    await page.keyboard.press("Enter")
    assert await page.get_attribute("nav.account-nav details", "open") is not None
    boxes = await page.eval_on_selector_all("nav.account-nav a", "links => links.map(a => {"
                                            " const r = a.getBoundingClientRect(); return [r.left, r.right, r.height]; })")
    assert len(boxes) >= 10 and all(left >= 0 and right <= width and height >= 44 for left, right, height in boxes), boxes
