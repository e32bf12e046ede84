"""pytest fixtures for the browser tests of the web app: one healthcenter
system (`healthcenter up`, gateway included) per test module, and Debian's
chromium, headless, driven by Selenium through Debian's chromedriver (no
browser download: scripts/install-deps.sh installs both).

The harness of the end-to-end suite (tests/e2e/hc.py) starts and stops the
system; tokens are minted with its key like the e2e tests do."""

import base64
import json
import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))

import hc  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

ADMIN_PASSWORD = "browser-admin-pass-1"
SCREENSHOTS = os.path.join(hc.repo_root(), "docs", "screenshots")
MOBILE = (412, 915)
DESKTOP = (1280, 900)


def _which(*names):
    for n in names:
        p = shutil.which(n) or (("/usr/bin/" + n) if os.path.exists("/usr/bin/" + n) else None)
        if p:
            return p
    return None


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """The whole system through its gateway; sign-in limits far above what the
    tests send, the super-admin's password known."""
    d = tmp_path_factory.mktemp("data")
    s = hc.System(d, hc.binary_path(), {
        "HC_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "HC_OTP_PER_PHONE": "1000",
        "HC_OTP_PER_CLIENT": "1000",
        "HC_CENTERS": "1:서울중앙검진센터:20,2:부산검진센터:10",
    })
    try:
        s.start_all()
        yield s
    finally:
        s.stop_all()


def new_driver(size=MOBILE, lang="ko-KR"):
    chromium = _which("chromium", "chromium-browser")
    driver_bin = _which("chromedriver")
    if not chromium or not driver_bin:
        pytest.fail("chromium and chromedriver are needed (scripts/install-deps.sh installs "
                    "Debian's chromium and chromium-driver)", pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-extensions", "--no-first-run", "--lang=" + lang,
              "--window-size=%d,%d" % size, "--force-device-scale-factor=1"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver_bin), options=opts)


@pytest.fixture
def browser():
    """A fresh headless chromium (empty cache and storage) per test."""
    d = new_driver()
    d.set_script_timeout(10)
    yield d
    errors = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"
              and "favicon" not in e.get("message", "")]
    d.quit()
    # Expected answers (402, 409, 401) are logged by chromium as failed
    # resources; any JavaScript error is a bug.
    js = [e for e in errors if "Uncaught" in e["message"] or "TypeError" in e["message"]
          or "SyntaxError" in e["message"]]
    assert not js, "JavaScript errors in the page: %s" % js


# ------------------------------------------------------------------ helpers

def wait(fn, what, timeout=hc.DEFAULT_TIMEOUT):
    return hc.wait_until(fn, timeout=timeout, what=what)


def url(system, path="/"):
    return system.base("gateway") + path


def open_page(driver, system, path="/"):
    driver.get(url(system, path))
    wait(lambda: driver.execute_script("return document.body.dataset.ready === 'true'"),
         "the page %s to be ready" % path)


def sign_in_customer(driver, system, phone):
    """Signs in through the page's SMS form, reading the code from sms.log."""
    before = _codes_sent(system, phone)
    box = driver.find_element(By.ID, "signin-phone")
    box.clear()
    box.send_keys(phone)
    driver.find_element(By.ID, "otp-send").click()
    code = wait(lambda: _codes_sent(system, phone)[len(before):] and
                _codes_sent(system, phone)[-1], "a new code for %s" % phone)
    wait(lambda: driver.find_element(By.ID, "signin-code").is_displayed(), "the code field")
    driver.find_element(By.ID, "signin-code").send_keys(code)
    driver.find_element(By.ID, "otp-verify").click()
    wait(lambda: driver.find_element(By.ID, "signed-in").is_displayed(), "signed in as %s" % phone)


def _codes_sent(system, phone):
    digits = hc.phone_digits(phone)
    path = os.path.join(system.data_dir, "sms.log")
    if not os.path.exists(path):
        return []
    return [line["text"].split("인증번호")[1].split()[0] for line in hc.read_json_lines(path)
            if line.get("to") == digits and "인증번호" in line.get("text", "")]


def use_customer_token(driver, system, phone, path="/"):
    """Opens path signed in as phone without the SMS round trip (a token
    minted with the system's key, as sign-in issues it)."""
    driver.get(url(system, "/"))
    driver.execute_script(
        "sessionStorage.setItem('hc.customer', arguments[0]);"
        "sessionStorage.setItem('hc.customer.extra', arguments[1]);",
        hc.customer_token(phone), json.dumps({"phone": phone}))
    open_page(driver, system, path)


def book_api(system, phone, date, card=hc.GOOD_CARD, order_type="basic", center=1):
    c = system.gateway.as_customer(phone)
    r = c.post("/orders", hc.booking(phone=phone, checkupDate=date, cardNo=card,
                                      orderType=order_type, centerId=center))
    assert r.status == 201, r
    return r.json


def wait_status(system, order_id, status, phone):
    c = system.gateway.as_customer(phone)
    return wait(lambda: c.get("/orders/%d" % order_id).json.get("status") == status,
                "order %d %s" % (order_id, status))


def screenshot(driver, name):
    """Saves the whole page (not only the window) as docs/screenshots/<name>.png,
    from the top, at the window's width."""
    os.makedirs(SCREENSHOTS, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0); document.activeElement.blur()")
    w = driver.execute_script("return document.documentElement.clientWidth")
    h = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": w, "height": min(h, 4000), "deviceScaleFactor": 1,
                            "mobile": False})
    try:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    with open(os.path.join(SCREENSHOTS, name + ".png"), "wb") as f:
        f.write(base64.b64decode(shot["data"]))


def text(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text
