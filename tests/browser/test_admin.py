"""The center admin's pages in a real browser: sign-in (and its failure), the
queue of REQUESTED reservations of the admin's centers with its filters,
confirm and reject one at a time and several at once, the customer's mypage
following in another tab without a reload, the day view and its capacity."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

import hc
from conftest import (ADMIN_PASSWORD, open_page, use_customer_token, book_api, wait,
                      wait_status, screenshot, text, DESKTOP)


def admin_sign_in(d, system, user="admin", password=ADMIN_PASSWORD):
    open_page(d, system, "/admin")
    d.find_element(By.ID, "username").send_keys(user)
    d.find_element(By.ID, "password").send_keys(password)
    d.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()


def row(d, rid):
    return d.find_element(By.CSS_SELECTOR, '#queue-rows tr[data-id="%d"]' % rid)


def reservation_of(system, order_id):
    res = system.gateway.as_superadmin().items("/reservations?orderId=%d" % order_id,
                                               "reservations")
    assert len(res) == 1, res
    return res[0]["id"]


def test_admin_wrong_password_is_refused(browser, system):
    d = browser
    admin_sign_in(d, system, password="not-the-password")
    wait(lambda: "아이디 또는 비밀번호가 맞지 않습니다" in text(d, "#login-error"), "the refusal")
    assert not d.find_element(By.ID, "console").is_displayed()
    assert d.execute_script("return sessionStorage.getItem('hc.admin')") is None


def test_admin_confirms_and_rejects_and_the_customer_follows(browser, system):
    d = browser
    d.set_window_size(*DESKTOP)
    phone = "010-6666-0001"
    date = hc.checkup_date(20)
    orders = [book_api(system, phone, date) for _ in range(4)]
    others = [(book_api(system, "010-6666-0002", hc.checkup_date(21)), "010-6666-0002"),
              (book_api(system, "010-6666-0003", date, center=2), "010-6666-0003")]
    for o, p in [(o, phone) for o in orders] + others:
        wait_status(system, o["id"], "REQUESTED", p)
    rids = [reservation_of(system, o["id"]) for o in orders]

    # the customer watches mypage in a tab of its own
    use_customer_token(d, system, phone, "/#/mypage")
    customer_tab = d.current_window_handle
    wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#my-list [data-order]")) == 4, "4 bookings")
    d.execute_script("window.__hcNoReload = 7")

    # the super-admin (HC_ADMIN_USER), signed in through the page: every center
    d.switch_to.new_window("tab")
    admin_tab = d.current_window_handle
    admin_sign_in(d, system)
    wait(lambda: d.find_element(By.ID, "console").is_displayed(), "the admin console")
    wait(lambda: d.find_elements(By.CSS_SELECTOR, '#queue-rows tr[data-id="%d"]' % rids[0]), "the queue")
    # filter by date: the other date's booking leaves the list
    d.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'))",
                     d.find_element(By.ID, "f-date"), date)
    wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#queue-rows tr")) == 5, "5 rows on %s" % date)
    Select(d.find_element(By.ID, "f-center")).select_by_value("1")
    wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#queue-rows tr")) == 4, "4 rows of center 1")
    assert {int(r.get_attribute("data-id")) for r in d.find_elements(By.CSS_SELECTOR, "#queue-rows tr")} \
        == set(rids)
    screenshot(d, "admin-queue")

    # one confirm: the row shows it at once, the customer's tab follows
    row(d, rids[0]).find_element(By.CSS_SELECTOR, '[data-action="confirm"]').click()
    wait(lambda: row(d, rids[0]).get_attribute("data-status") == "CONFIRMED", "the row CONFIRMED")
    assert "#%d" % rids[0] in text(d, "#result")
    # a reject needs a reason
    row(d, rids[1]).find_element(By.CSS_SELECTOR, '[data-action="reject"]').click()
    wait(lambda: text(d, "#err-reason"), "the missing reason")
    assert row(d, rids[1]).get_attribute("data-status") == "REQUESTED"
    d.find_element(By.ID, "reason").send_keys("장비 점검")
    row(d, rids[1]).find_element(By.CSS_SELECTOR, '[data-action="reject"]').click()
    wait(lambda: row(d, rids[1]).get_attribute("data-status") == "REJECTED", "the row REJECTED")
    assert "장비 점검" in row(d, rids[1]).text
    # several at once
    for rid in rids[2:]:
        row(d, rid).find_element(By.CSS_SELECTOR, ".pick").click()
    d.find_element(By.ID, "confirm-selected").click()
    wait(lambda: all(row(d, rid).get_attribute("data-status") == "CONFIRMED" for rid in rids[2:]),
         "both selected rows CONFIRMED")
    assert "2" in text(d, "#result")

    # the day view: capacity used, and a new capacity
    Select(d.find_element(By.ID, "d-center")).select_by_value("1")
    d.execute_script("arguments[0].value = arguments[1]", d.find_element(By.ID, "d-date"), date)
    d.find_element(By.ID, "day-show").click()
    wait(lambda: text(d, "#day-booked") == "3", "3 places used on %s" % date)
    assert text(d, "#day-capacity") == "20"
    cap = d.find_element(By.ID, "capacity")
    cap.clear()
    cap.send_keys("25")
    d.find_element(By.ID, "capacity-save").click()
    wait(lambda: text(d, "#day-capacity") == "25", "the new capacity")
    assert text(d, "#day-remaining") == "22"
    slot = system.gateway.get("/centers/1/slots?from=%s&to=%s" % (date, date)).json
    assert slot["_embedded"]["slots"][0]["capacity"] == 25
    screenshot(d, "admin-day")

    # the customer's page followed without a reload: 3 confirmed, 1 rejected and refunded
    d.switch_to.window(customer_tab)

    def statuses():
        return sorted(e.get_attribute("data-status")
                      for e in d.find_elements(By.CSS_SELECTOR, "#my-list [data-order]"))
    wait(lambda: statuses() == ["CONFIRMED", "CONFIRMED", "CONFIRMED", "REJECTED"],
         "mypage following the admin")
    assert d.execute_script("return window.__hcNoReload") == 7
    rejected = d.find_element(By.CSS_SELECTOR, '#my-list [data-order="%d"]' % orders[1]["id"])
    wait(lambda: "환불 완료" in rejected.text, "the rejected booking's refund")
    d.switch_to.window(admin_tab)


def test_center_admin_sees_only_its_centers(browser, system):
    d = browser
    r = hc.request("POST", system.base("gateway") + "/auth/login",
                   {"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status == 200, r
    # an admin of center 2 only, created with the CLI
    import subprocess
    subprocess.run([system.bin, "admin", "add", "busan", "--centers", "2"],
                   input=b"busan-admin-pass\n", env=system.env, cwd=system.data_dir, check=True,
                   capture_output=True, timeout=30)
    o = book_api(system, "010-6666-0009", hc.checkup_date(22), center=1)
    wait_status(system, o["id"], "REQUESTED", "010-6666-0009")
    admin_sign_in(d, system, user="busan", password="busan-admin-pass")
    wait(lambda: d.find_element(By.ID, "console").is_displayed(), "the console")
    wait(lambda: text(d, "#queue-count"), "the queue's count")
    opts = [o.text for o in Select(d.find_element(By.ID, "f-center")).options]
    assert opts == ["부산검진센터"], opts
    assert not d.find_elements(By.CSS_SELECTOR, '#queue-rows [data-status="REQUESTED"] td') or \
        all("부산" in r.text for r in d.find_elements(By.CSS_SELECTOR, "#queue-rows tr"))
