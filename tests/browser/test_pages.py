"""The pages as a whole: Korean by default and English on request (every text
from web/assets/i18n.js), the first load's weight and time to interactive
through the gateway (the budget: under 100 KB transferred, asserted;
interactive in under 1 s, measured and printed), and the caching headers the
gateway sends."""

import re

from selenium.webdriver.common.by import By

import hc
from conftest import open_page, new_driver, wait, screenshot, text, url, DESKTOP

BUDGET_BYTES = 100 * 1024
BUDGET_MS = 1000.0


def test_customer_page_in_korean_and_in_english(browser, system):
    d = browser
    open_page(d, system, "/")
    assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ko"
    assert text(d, "#book-title") == "건강검진 예약"
    assert text(d, "#book-submit") == "결제하고 예약하기"
    assert d.find_element(By.CSS_SELECTOR, '[data-lang="ko"]').get_attribute("aria-pressed") == "true"
    d.find_element(By.CSS_SELECTOR, '[data-lang="en"]').click()
    assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert text(d, "#book-title") == "Book a health checkup"
    assert text(d, "#book-submit") == "Pay and book"
    assert "left" in text(d, "#calendar")
    assert "KRW 50,000" in text(d, "#packages")
    assert d.title == "Health checkup booking"
    screenshot(d, "customer-book-en")
    # the choice is kept for the next visit, and ?lang= picks one for a link
    open_page(d, system, "/#/mypage")
    assert text(d, "#my-title") == "My bookings"
    open_page(d, system, "/?lang=ko#/mypage")
    assert text(d, "#my-title") == "마이페이지"


def test_admin_page_in_korean_and_in_english(browser, system):
    d = browser
    open_page(d, system, "/admin")
    assert text(d, "#login-title") == "관리자 로그인"
    d.find_element(By.CSS_SELECTOR, '[data-lang="en"]').click()
    assert text(d, "#login-title") == "Admin sign-in"
    assert d.find_element(By.CSS_SELECTOR, 'label[for="password"]').text == "Password"
    d.find_element(By.CSS_SELECTOR, '[data-lang="ko"]').click()
    assert d.find_element(By.CSS_SELECTOR, 'label[for="password"]').text == "비밀번호"


def test_every_text_has_both_languages():
    """i18n.js: the Korean and the English table have the same keys, and every
    key the pages and scripts name is in them."""
    import os
    web = os.path.join(hc.repo_root(), "web")
    src = open(os.path.join(web, "assets", "i18n.js"), encoding="utf-8").read()
    ko = src[src.index("  ko: {"):src.index("  en: {")]
    en = src[src.index("  en: {"):src.index("export const LANGS")]
    keys = lambda block: set(re.findall(r"^\s+'([\w.]+)':", block, re.M))  # noqa: E731
    assert keys(ko) == keys(en), keys(ko) ^ keys(en)
    used = set()
    for root, _, files in os.walk(web):
        for f in files:
            body = open(os.path.join(root, f), encoding="utf-8").read()
            used |= set(re.findall(r'data-i18n(?:-placeholder|-label)?="([\w.]+)"', body))
            used |= set(re.findall(r"\bt\('([\w.]+\w)'", body))
    missing = {k for k in used if k not in keys(ko)}
    assert not missing, missing


def test_first_load_budget(system):
    """A first visit (empty cache) of / through the gateway: all it transfers
    (page, styles, scripts, the API calls it makes) under 100 KB, and the time
    until the page is interactive (its catalog and calendar shown, handlers
    attached) from navigation start, printed against its 1 s budget. Measured
    with the Navigation and Resource Timing APIs."""
    d = new_driver(size=DESKTOP)
    try:
        d.get(url(system, "/"))
        wait(lambda: d.execute_script("return document.body.dataset.ready === 'true'"), "ready")
        m = d.execute_script("""
            const nav = performance.getEntriesByType('navigation')[0];
            const res = performance.getEntriesByType('resource');
            const mark = performance.getEntriesByName('hc-interactive')[0];
            return {
              page: nav.transferSize,
              resources: res.map(r => [r.name, r.transferSize, r.encodedBodySize, r.startTime, r.responseEnd]),
              domInteractive: nav.domInteractive,
              domContentLoaded: nav.domContentLoadedEventEnd,
              load: nav.loadEventEnd,
              interactive: mark ? mark.startTime : null,
            };""")
    finally:
        d.quit()
    total = m["page"] + sum(r[1] for r in m["resources"])
    print("\nfirst load of / through the gateway: %d bytes transferred (page %d + %d resources), "
          "DOM interactive %.0f ms, DOMContentLoaded %.0f ms, interactive (catalog and calendar "
          "shown) %.0f ms" % (total, m["page"], len(m["resources"]), m["domInteractive"],
                              m["domContentLoaded"], m["interactive"]))
    for name, size, body, start, end in m["resources"]:
        print("  %6d B (body %6d B) %4.0f-%4.0f ms %s" % (size, body, start, end, name))
    assert all(r[1] > 0 for r in m["resources"]), "a resource without its size: %s" % m["resources"]
    assert total < BUDGET_BYTES, "first load transferred %d bytes (budget %d)" % (total, BUDGET_BYTES)
    # The time is measured and printed against its budget, not asserted: the
    # project checks speed with benchmarks, never with timed tests (a loaded
    # CI machine would fail a sound page). The bytes are deterministic.
    assert m["interactive"] is not None, "the page never marked itself interactive"
    print("time to interactive %.0f ms: %s the %.0f ms budget"
          % (m["interactive"], "within" if m["interactive"] < BUDGET_MS else "OVER", BUDGET_MS))


def test_caching_headers(system):
    """Pages: no-cache (always revalidated); assets: a year, immutable, under
    a path that changes with their contents; both compressed for browsers."""
    page = hc.request("GET", url(system, "/"), headers={"Accept-Encoding": "gzip"})
    assert page.status == 200, page
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Cache-Control"] == "no-cache"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    plain = hc.request("GET", url(system, "/"))
    assert "__HC_" not in plain.text, "every placeholder is filled"
    assets = re.findall(r'/assets/([0-9a-f]{16})/([\w-]+\.(?:js|css))', plain.text)
    assert assets and len({v for v, _ in assets}) == 1, assets
    for version, name in assets:
        r = hc.request("GET", url(system, "/assets/%s/%s" % (version, name)))
        assert r.status == 200, (name, r)
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert r.headers["Content-Type"].split(";")[0] in ("text/javascript", "text/css")
    admin = hc.request("GET", url(system, "/admin"))
    assert admin.status == 200 and admin.headers["Cache-Control"] == "no-cache"
    assert "admin.js" in admin.text
    # `up` says where the app is
    log = system.procs["up"].log_path
    wait(lambda: "web app       %s/ (customers)" % system.base("gateway") in hc.tail(log, 200),
         "the web app's line in up's ready banner")
    # an asset that does not exist, or a path that only looks like one: JSON 404
    for path in ("/assets/%s/nope.js" % assets[0][0], "/assets/x/app.css", "/index.html",
                 "/admin.html", "/assets/%s/../index.html" % assets[0][0]):
        r = hc.request("GET", url(system, path))
        assert r.status == 404 and r.json["error"] == "not_found", (path, r)


# Every visible form control has a label (a <label>, or aria-label), every
# button a name, and every visible text a contrast of at least 4.5:1 with the
# background it is drawn on (WCAG AA; disabled controls are exempt).
A11Y_JS = """
function rgb(s) { const m = s.match(/[\\d.]+/g).map(Number); return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; }
function lum(c) { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                  return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); }
function bg(e) { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.a > 0.5) return c; }
                 return {r: 255, g: 255, b: 255, a: 1}; }
function visible(e) { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; }
const problems = [];
for (const e of document.querySelectorAll('input, select, textarea')) {
  if (!visible(e) || e.type === 'hidden') continue;
  if (!(e.labels && e.labels.length) && !e.getAttribute('aria-label')) problems.push('no label: ' + (e.id || e.outerHTML.slice(0, 60)));
}
for (const b of document.querySelectorAll('button, a')) {
  if (visible(b) && !(b.textContent.trim() || b.getAttribute('aria-label'))) problems.push('no name: ' + b.outerHTML.slice(0, 60));
}
for (const e of document.querySelectorAll('body *')) {
  if (!visible(e) || e.closest('[disabled], .sr-only')) continue;
  const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own) continue;
  const fg = rgb(getComputedStyle(e).color), back = bg(e);
  const l1 = lum(fg), l2 = lum(back);
  const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  if (ratio < 4.5) problems.push('contrast ' + ratio.toFixed(2) + ': ' + e.tagName + '.' + e.className + ' "' + e.textContent.trim().slice(0, 30) + '"');
}
return problems;
"""


def test_labels_names_and_contrast(browser, system):
    from conftest import use_customer_token, book_api
    from test_admin import admin_sign_in
    d = browser
    phone = "010-7777-0001"
    order = book_api(system, phone, hc.checkup_date(5))
    for path in ("/", "/#/mypage", "/#/booking/%d" % order["id"]):
        use_customer_token(d, system, phone, path)
        wait(lambda: d.find_elements(By.CSS_SELECTOR, "#my-list [data-order], #booking-card, #calendar .day"),
             "the content of %s" % path)
        problems = d.execute_script(A11Y_JS)
        assert not problems, "%s: %s" % (path, problems)
    d.execute_script("sessionStorage.clear()")
    open_page(d, system, "/")
    assert not d.execute_script(A11Y_JS), "signed out"
    admin_sign_in(d, system)
    wait(lambda: d.find_elements(By.CSS_SELECTOR, "#day-capacity"), "the admin console")
    problems = d.execute_script(A11Y_JS)
    assert not problems, "/admin: %s" % problems
