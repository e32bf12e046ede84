"""The customer's pages in a real browser (headless chromium): booking end to
end with SMS sign-in and card payment, the confirmation page, mypage kept live
without a reload, a declined card, a full date, cancel with its refund, sign-in
failures, booking with the keyboard alone."""

import urllib.parse

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

import hc
from conftest import (open_page, sign_in_customer, use_customer_token, book_api, wait,
                      screenshot, text, url)


def pick_date(driver, iso):
    """Shows iso's month in the calendar and clicks its day."""
    for _ in range(5):
        found = driver.find_elements(By.CSS_SELECTOR, '#calendar [data-date="%s"]' % iso)
        if found:
            found[0].click()
            return found[0]
        driver.find_element(By.CSS_SELECTOR, "#calendar .cal-nav:last-of-type").click()
    raise AssertionError("no day %s in the calendar" % iso)


def mark_no_reload(driver):
    """A marker a reload would wipe: status changes must arrive without one."""
    driver.execute_script("window.__hcNoReload = 42")


def not_reloaded(driver):
    return driver.execute_script("return window.__hcNoReload") == 42


def test_book_end_to_end_and_follow_it_live(browser, system):
    d = browser
    phone = "010-5555-0001"
    date = hc.checkup_date(10)
    open_page(d, system, "/")
    # the catalog and the calendar of the chosen center
    assert "종합 건강검진" in text(d, "#packages")
    day = d.find_element(By.CSS_SELECTOR, '#calendar [data-date="%s"]' % hc.checkup_date(1))
    assert "20" in day.text, day.text  # 20 places left on an empty day
    d.find_element(By.CSS_SELECTOR, 'input[name="orderType"][value="prime"]').click()
    assert "150,000" in text(d, "#total")
    pick_date(d, date)
    assert d.find_element(By.CSS_SELECTOR, '#calendar [data-date="%s"]' % date) \
        .get_attribute("aria-pressed") == "true"
    sign_in_customer(d, system, phone)
    assert d.find_element(By.ID, "phone").get_attribute("value") == phone
    d.find_element(By.ID, "name").send_keys("김검진")
    d.find_element(By.ID, "cardNo").send_keys("4111 1111 1111 1111")
    screenshot(d, "customer-book")
    d.find_element(By.ID, "book-submit").click()

    # the confirmation: masked card, centre, date; the status moves on by itself
    wait(lambda: "#/booking/" in d.current_url, "the confirmation page")
    order_id = int(d.current_url.rsplit("/", 1)[1])
    wait(lambda: d.find_elements(By.ID, "booking-card"), "the booking's details")
    mark_no_reload(d)
    assert text(d, "#booking-card") == "************1111"
    assert "서울중앙검진센터" in text(d, "#booking-details")
    assert d.find_element(By.CSS_SELECTOR, "#booking-details [data-date]") \
        .get_attribute("data-date") == date
    wait(lambda: d.find_element(By.CSS_SELECTOR, "#booking-status .badge")
         .get_attribute("data-status") == "REQUESTED", "REQUESTED on the confirmation page")
    assert not_reloaded(d)
    assert "예약 요청됨" in text(d, "#booking-history")
    # the .ics file is the checkup day
    href = d.find_element(By.ID, "ics").get_attribute("href")
    ics = urllib.parse.unquote(href.split(",", 1)[1])
    assert "BEGIN:VCALENDAR" in ics and "DTSTART;VALUE=DATE:%s" % date.replace("-", "") in ics, ics
    assert d.find_element(By.ID, "ics").get_attribute("download").endswith(".ics")
    # printable: the print stylesheet hides the navigation and the buttons
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not d.find_element(By.CSS_SELECTOR, "header.bar").is_displayed()
    assert not d.find_element(By.ID, "print").is_displayed()
    assert d.find_element(By.ID, "booking-details").is_displayed()
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    screenshot(d, "customer-confirmation")

    # mypage: the booking with its history; an admin's confirmation shows up
    # without a reload
    d.find_element(By.ID, "nav-mypage").click()
    item = '#my-list [data-order="%d"]' % order_id
    wait(lambda: d.find_elements(By.CSS_SELECTOR, item), "the booking on mypage")
    mark_no_reload(d)
    assert d.find_element(By.CSS_SELECTOR, item).get_attribute("data-status") == "REQUESTED"
    res = system.gateway.as_admin((1,)).items("/reservations?orderId=%d" % order_id, "reservations")
    assert system.gateway.as_admin((1,)).post("/reservations/%d/confirm" % res[0]["id"]).status == 200
    wait(lambda: d.find_element(By.CSS_SELECTOR, item).get_attribute("data-status") == "CONFIRMED",
         "CONFIRMED on mypage without a reload")
    assert not_reloaded(d)
    assert "예약 확정" in d.find_element(By.CSS_SELECTOR, item + " .history").text
    screenshot(d, "customer-mypage")


def test_declined_card_says_so_and_charges_nothing(browser, system):
    d = browser
    phone = "010-5555-0002"
    use_customer_token(d, system, phone)
    pick_date(d, hc.checkup_date(11))
    d.find_element(By.ID, "name").send_keys("이거절")
    d.find_element(By.ID, "cardNo").send_keys(hc.DECLINED_CARD)
    d.find_element(By.ID, "book-submit").click()
    wait(lambda: "승인되지 않았습니다" in text(d, "#book-error"), "the declined message")
    assert d.find_element(By.ID, "cardNo").get_attribute("aria-invalid") == "true"
    assert "#/booking/" not in d.current_url
    orders = system.gateway.as_customer(phone).items("/orders", "orders")
    assert [o["status"] for o in orders] == ["FAILED"]


def test_field_errors_as_the_api_reports_them(browser, system):
    d = browser
    use_customer_token(d, system, "010-5555-0003")
    pick_date(d, hc.checkup_date(12))
    d.find_element(By.ID, "cardNo").send_keys("1234567812345678")  # fails Luhn
    d.find_element(By.ID, "book-submit").click()
    wait(lambda: text(d, "#err-cardNo"), "the card number's error")
    assert text(d, "#err-name"), "the empty name is named too"
    assert d.find_element(By.ID, "cardNo").get_attribute("aria-invalid") == "true"
    # the first invalid field has the focus
    assert d.switch_to.active_element.get_attribute("aria-invalid") == "true"


def test_full_date_is_not_selectable(browser, system):
    d = browser
    full = hc.checkup_date(13)
    r = system.gateway.as_admin((1,)).put("/centers/1/slots/%s" % full, {"capacity": 0})
    assert r.status == 200, r
    use_customer_token(d, system, "010-5555-0004")
    day = pick_date(d, full)
    assert day.get_attribute("aria-disabled") == "true"
    assert "full" in day.get_attribute("class")
    assert day.get_attribute("aria-pressed") == "false"
    assert text(d, "#date-chosen") == ""
    assert "마감" in day.text
    # past days are not selectable either
    past = d.find_elements(By.CSS_SELECTOR, '#calendar [data-date="%s"]' % hc.today_seoul().isoformat())
    if past:
        past[0].click()
        assert past[0].get_attribute("aria-pressed") == "false"


def test_cancel_shows_the_rule_and_the_refund(browser, system):
    d = browser
    phone = "010-5555-0005"
    order = book_api(system, phone, hc.checkup_date(14))
    use_customer_token(d, system, phone, "/#/mypage")
    item = '#my-list [data-order="%d"]' % order["id"]
    wait(lambda: d.find_elements(By.CSS_SELECTOR, item + ' [data-action="cancel"]'), "the cancel button")
    # opened directly on mypage: the booking names its package and center
    wait(lambda: "기본 건강검진 · 서울중앙검진센터" in d.find_element(By.CSS_SELECTOR, item + " h2").text,
         "the package and center names on mypage")
    rule = d.find_element(By.CSS_SELECTOR, item + " .rule").text
    assert "23:59" in rule and "전액" in rule, rule
    d.find_element(By.CSS_SELECTOR, item + ' [data-action="cancel"]').click()
    ask = d.find_element(By.CSS_SELECTOR, item + " .confirm-box").text
    assert "50,000원" in ask, ask
    d.find_element(By.CSS_SELECTOR, item + ' [data-action="cancel-confirm"]').click()
    wait(lambda: d.find_element(By.CSS_SELECTOR, item).get_attribute("data-status") == "CANCELED",
         "CANCELED on mypage")
    wait(lambda: "환불 완료: 50,000원" in d.find_element(By.CSS_SELECTOR, item).text,
         "the refund on mypage")
    pays = system.gateway.as_customer(phone).items("/paymentHistories?orderId=%d" % order["id"],
                                                   "paymentHistories")
    assert [p["status"] for p in pays] == ["CANCELED"]
    assert not d.find_elements(By.CSS_SELECTOR, item + ' [data-action="cancel"]')
    assert "취소할 수 없습니다" in d.find_element(By.CSS_SELECTOR, item + " .rule").text


def test_sign_in_failures(browser, system):
    d = browser
    open_page(d, system, "/#/mypage")
    # a number that is not a mobile number: the API's field error
    d.find_element(By.ID, "signin-phone").send_keys("12345")
    d.find_element(By.ID, "otp-send").click()
    wait(lambda: text(d, "#err-signin-phone"), "the phone's error")
    assert d.find_element(By.ID, "signin-phone").get_attribute("aria-invalid") == "true"
    # a wrong code
    box = d.find_element(By.ID, "signin-phone")
    box.clear()
    box.send_keys("010-5555-0006")
    d.find_element(By.ID, "otp-send").click()
    wait(lambda: d.find_element(By.ID, "signin-code").is_displayed(), "the code field")
    d.find_element(By.ID, "signin-code").send_keys("000000")
    d.find_element(By.ID, "otp-verify").click()
    wait(lambda: "인증번호가 맞지 않거나" in text(d, "#err-signin-code"), "the wrong code's message")
    assert not d.find_element(By.ID, "signed-in").is_displayed()
    assert d.execute_script("return sessionStorage.getItem('hc.customer')") is None


def tab_to(driver, css, limit=80):
    """Presses Tab until the element matching css has the focus."""
    for _ in range(limit):
        if driver.execute_script("return document.activeElement.matches(arguments[0])", css):
            return driver.switch_to.active_element
        ActionChains(driver).send_keys(Keys.TAB).perform()
    raise AssertionError("Tab never reached %s" % css)


def keys(driver, *ks):
    ActionChains(driver).send_keys(*ks).perform()


def test_keyboard_only_booking(browser, system):
    """Everything from the package to the payment with keys alone: Tab, the
    arrow keys, Enter and typing; no click."""
    d = browser
    phone = "010-5555-0007"
    open_page(d, system, "/")
    tab_to(d, 'input[name="orderType"]')
    keys(d, Keys.ARROW_DOWN)  # the second package
    assert d.switch_to.active_element.get_attribute("value") == "prime"
    tab_to(d, "#calendar button.day[tabindex='0']")
    start = d.switch_to.active_element.get_attribute("data-date")
    keys(d, Keys.ARROW_DOWN, Keys.ARROW_RIGHT)  # a week and a day later
    want = d.switch_to.active_element.get_attribute("data-date")
    assert want > start
    keys(d, Keys.ENTER)
    wait(lambda: d.find_element(By.CSS_SELECTOR, '#calendar [data-date="%s"]' % want)
         .get_attribute("aria-pressed") == "true", "the day chosen with Enter")
    tab_to(d, "#signin-phone")
    keys(d, phone, Keys.ENTER)
    wait(lambda: d.switch_to.active_element.get_attribute("id") == "signin-code", "the code field focused")
    from conftest import _codes_sent
    code = wait(lambda: _codes_sent(system, phone) and _codes_sent(system, phone)[-1], "the code")
    keys(d, code, Keys.ENTER)
    wait(lambda: d.switch_to.active_element.get_attribute("id") == "name", "the name field focused")
    keys(d, "박키보드")
    tab_to(d, "#cardNo")
    keys(d, hc.GOOD_CARD, Keys.ENTER)
    wait(lambda: "#/booking/" in d.current_url, "the confirmation page")
    order_id = int(d.current_url.rsplit("/", 1)[1])
    o = system.gateway.as_customer(phone).get("/orders/%d" % order_id).json
    assert (o["orderType"], o["checkupDate"], o["name"]) == ("prime", want, "박키보드")
    # the view's heading has the focus, so reading goes on from there
    assert d.switch_to.active_element.get_attribute("id") == "booking-title"


def test_unknown_hash_and_api_routes_unchanged(system):
    """The web app took / and /admin only: the API and the JSON 404 stay."""
    g = system.gateway
    assert g.get("/packages").status == 200
    r = hc.request("GET", url(system, "/nope"))
    assert r.status == 404 and r.json["error"] == "not_found"
    r = hc.request("POST", url(system, "/"), raw=b"")
    assert r.status == 405, r
