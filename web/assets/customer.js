// customer: the customer's pages at / (hash routes): book (package, center,
// the calendar of places, SMS sign-in, card payment), the booking's
// confirmation (printable, .ics), and mypage (every booking of the signed-in
// phone, its history kept live by polling, cancel with its refund).
import { t, won } from './i18n.js';
import {
  api, items, errorText, el, $, announce, clearErrors, showFieldErrors, today, addDays,
  fmtDate, fmtTime, badge, initPage, newKey, settings, Session,
} from './common.js';

const session = new Session('hc.customer');
const POLL_MS = 1500;

const state = {
  packages: [],
  centers: new Map(),
  pkg: null,
  center: null,
  date: null,
  focusDate: null,
  month: null, // 'YYYY-MM' shown
  slots: new Map(),
  view: null,
  poll: null,
  bookingId: null,
  bookingKey: null,
  my: new Map(), // orderId -> mypage
  confirming: new Set(),
  itemMsg: new Map(), // orderId -> message after a cancel attempt
};

// ------------------------------------------------------------ catalog

async function loadCatalog() {
  const [p, c] = await Promise.all([api('GET', '/packages'), api('GET', '/centers')]);
  state.packages = items(p, 'packages');
  for (const x of items(c, 'centers')) state.centers.set(x.id, x);
  state.pkg = state.pkg || (state.packages[0] && state.packages[0].code);
  state.center = state.center || (items(c, 'centers')[0] && items(c, 'centers')[0].id);
  renderPackages();
  renderCenters();
  await loadSlots();
}

function pkgName(code) {
  const p = state.packages.find((x) => x.code === code);
  return p ? p.name : code;
}

function centerName(id) {
  const c = state.centers.get(id);
  return c ? c.name : '#' + id;
}

function renderPackages() {
  const box = $('#packages');
  box.replaceChildren(
    ...state.packages.map((p) =>
      el('label', { class: 'choice' },
        el('input', {
          type: 'radio', name: 'orderType', value: p.code, checked: p.code === state.pkg,
          onchange: () => { state.pkg = p.code; renderTotal(); },
        }),
        el('span', { class: 'choice-name' }, p.name),
        el('span', { class: 'choice-price' }, won(p.price)))));
  renderTotal();
}

function renderCenters() {
  const sel = $('#center');
  sel.replaceChildren(...[...state.centers.values()].map((c) =>
    el('option', { value: c.id, selected: c.id === state.center }, c.name)));
}

function renderTotal() {
  const p = state.packages.find((x) => x.code === state.pkg);
  $('#total').textContent = p ? t('book.total', { amount: won(p.price) }) : '';
}

// ------------------------------------------------------------ calendar

const first = () => addDays(today(), 1);
const last = () => addDays(today(), settings.horizonDays);

async function loadSlots() {
  const from = first();
  const to = addDays(from, Math.min(settings.horizonDays, 92) - 1);
  const res = await api('GET', `/centers/${state.center}/slots?from=${from}&to=${to}`);
  state.slots = new Map(items(res, 'slots').map((s) => [s.date, s]));
  if (res.status !== 200) $('#err-checkupDate').textContent = errorText(res);
  if (state.date && !bookable(state.date)) state.date = null;
  state.month = state.month || (state.date || from).slice(0, 7);
  renderCalendar(false);
  renderChosen();
}

/** 'out' (past or beyond the window, or unknown), 'full', or 'open'. */
function dayState(iso) {
  if (iso < first() || iso > last()) return 'out';
  const s = state.slots.get(iso);
  if (!s) return 'out';
  return s.remaining > 0 ? 'open' : 'full';
}

const bookable = (iso) => dayState(iso) === 'open';

function monthStart(m) {
  return m + '-01';
}

function renderCalendar(focus) {
  const cal = $('#calendar');
  const m = state.month;
  if (!m) return; // the slots are not loaded yet
  const [y, mo] = m.split('-').map(Number);
  const start = monthStart(m);
  const firstWeekday = new Date(start + 'T00:00:00Z').getUTCDay();
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  const minMonth = today().slice(0, 7);
  const maxMonth = last().slice(0, 7);
  if (!state.focusDate || state.focusDate.slice(0, 7) !== m) {
    let f = state.date && state.date.slice(0, 7) === m ? state.date : null;
    for (let d = 1; !f && d <= days; d++) {
      const iso = `${m}-${String(d).padStart(2, '0')}`;
      if (bookable(iso)) f = iso;
    }
    state.focusDate = f || start;
  }
  const head = el('div', { class: 'cal-head' },
    el('button', {
      type: 'button', class: 'cal-nav', 'aria-label': t('book.prevMonth'), disabled: m <= minMonth,
      onclick: () => moveMonth(-1),
    }, '‹'),
    el('h3', { class: 'cal-title', id: 'cal-title', 'aria-live': 'polite' }, t('book.monthTitle', { y, m: mo })),
    el('button', {
      type: 'button', class: 'cal-nav', 'aria-label': t('book.nextMonth'), disabled: m >= maxMonth,
      onclick: () => moveMonth(1),
    }, '›'));
  const wd = t('book.weekdays').split(',');
  const rows = [];
  let cells = [];
  for (let i = 0; i < firstWeekday; i++) cells.push(el('td', { role: 'gridcell' }));
  for (let d = 1; d <= days; d++) {
    const iso = `${m}-${String(d).padStart(2, '0')}`;
    const st = dayState(iso);
    const s = state.slots.get(iso);
    const label = st === 'open' ? t('book.dayLabel', { date: fmtDate(iso), n: s.remaining })
      : st === 'full' ? t('book.dayFull', { date: fmtDate(iso) }) : t('book.dayOut', { date: fmtDate(iso) });
    const b = el('button', {
      type: 'button', class: 'day ' + st, 'data-date': iso, 'aria-label': label,
      'aria-disabled': st === 'open' ? null : 'true', 'aria-pressed': String(iso === state.date),
      tabindex: iso === state.focusDate ? '0' : '-1',
      onclick: () => choose(iso),
    },
    el('span', { class: 'day-n', 'aria-hidden': 'true' }, String(d)),
    el('span', { class: 'day-left', 'aria-hidden': 'true' },
      st === 'open' ? t('book.left', { n: s.remaining }) : st === 'full' ? t('book.full') : ''));
    cells.push(el('td', { role: 'gridcell' }, b));
    if (cells.length === 7) {
      rows.push(el('tr', {}, cells));
      cells = [];
    }
  }
  if (cells.length) rows.push(el('tr', {}, cells));
  const table = el('table', { role: 'grid', 'aria-labelledby': 'cal-title', onkeydown: calKey },
    el('thead', {}, el('tr', {}, wd.map((w) => el('th', { scope: 'col' }, w)))),
    el('tbody', {}, rows));
  cal.replaceChildren(head, table);
  if (focus) {
    const b = cal.querySelector(`[data-date="${state.focusDate}"]`);
    if (b) b.focus();
  }
}

function moveMonth(delta) {
  const [y, mo] = state.month.split('-').map(Number);
  const d = new Date(Date.UTC(y, mo - 1 + delta, 1));
  state.month = d.toISOString().slice(0, 7);
  state.focusDate = null;
  renderCalendar(false);
}

function calKey(ev) {
  const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -7, ArrowDown: 7 }[ev.key];
  if (step === undefined) return;
  ev.preventDefault();
  const next = addDays(state.focusDate, step);
  if (next.slice(0, 7) < today().slice(0, 7) || next > last()) return;
  state.focusDate = next;
  if (next.slice(0, 7) !== state.month) state.month = next.slice(0, 7);
  renderCalendar(true);
}

function choose(iso) {
  if (!bookable(iso)) return; // full, past or beyond the window: not selectable
  state.date = iso;
  state.focusDate = iso;
  $('#err-checkupDate').textContent = '';
  renderCalendar(true);
  renderChosen();
}

function renderChosen() {
  const s = state.date && state.slots.get(state.date);
  $('#date-chosen').textContent = s ? t('book.chosen', { date: fmtDate(state.date), n: s.remaining }) : '';
}

// ------------------------------------------------------------ sign-in

function signedPhone() {
  return session.token ? session.extra.phone : null;
}

function renderSignin() {
  const phone = signedPhone();
  $('#otp-form').hidden = !!phone || !$('#verify-form').hidden;
  $('#signed-in').hidden = !phone;
  if (phone) {
    $('#verify-form').hidden = true;
    $('#signed-in-text').textContent = t('signin.done', { phone });
  }
  $('#phone').value = phone || '';
}

async function sendCode(ev) {
  ev.preventDefault();
  const form = $('#otp-form');
  clearErrors(form);
  const phone = $('#signin-phone').value.trim();
  const res = await api('POST', '/auth/otp', { body: { phone } });
  if (res.status === 202) {
    state.otpPhone = phone;
    $('#otp-form').hidden = true;
    $('#verify-form').hidden = false;
    $('#otp-sent').textContent = t('signin.sent', { phone });
    $('#signin-code').value = '';
    $('#signin-code').focus();
    return;
  }
  signinError(res, '#err-signin-phone', '#signin-phone');
}

function signinError(res, box, input) {
  const code = res.data && res.data.error;
  let msg;
  if (code === 'validation_failed' && res.data.fields && res.data.fields.length) msg = res.data.fields[0].message;
  else if (code === 'invalid_code') msg = t('signin.invalid_code');
  else if (res.status === 429) msg = t('signin.too_many_requests', { s: res.headers.get('Retry-After') || '1' });
  else msg = errorText(res);
  $(box).textContent = msg;
  $(input).setAttribute('aria-invalid', 'true');
  $(input).focus();
  announce(msg);
}

async function verifyCode(ev) {
  ev.preventDefault();
  clearErrors($('#verify-form'));
  const code = $('#signin-code').value.trim();
  const res = await api('POST', '/auth/otp/verify', { body: { phone: state.otpPhone, code } });
  if (res.status === 200 && res.data.accessToken) {
    session.set(res.data.accessToken, { phone: state.otpPhone });
    $('#verify-form').hidden = true;
    renderSignin();
    announce(t('signin.done', { phone: state.otpPhone }));
    if (state.view === 'mypage') showMypage();
    else $('#name').focus();
    return;
  }
  signinError(res, '#err-signin-code', '#signin-code');
}

function resend() {
  $('#verify-form').hidden = true;
  $('#otp-form').hidden = false;
  $('#signin-phone').value = state.otpPhone || '';
  $('#signin-phone').focus();
}

function signOut() {
  session.clear();
  $('#verify-form').hidden = true;
  renderSignin();
  $('#signin-phone').focus();
  if (state.view === 'mypage') showMypage();
}

// ------------------------------------------------------------ booking

async function book(ev) {
  ev.preventDefault();
  const form = $('#book-form');
  const errBox = $('#book-error');
  clearErrors(form);
  for (const id of ['#err-checkupDate', '#err-orderType', '#err-centerId']) $(id).textContent = '';
  errBox.textContent = '';
  if (!state.date) {
    $('#err-checkupDate').textContent = t('book.noDate');
    announce(t('book.noDate'));
    const b = $('#calendar [tabindex="0"]');
    if (b) b.focus();
    return;
  }
  if (!session.token) {
    errBox.textContent = t('book.needSignIn');
    $('#signin-phone').focus();
    return;
  }
  const body = {
    name: $('#name').value.trim(),
    phone: session.extra.phone,
    orderType: state.pkg,
    checkupDate: state.date,
    centerId: Number(state.center),
    payMethod: 'card',
    cardNo: $('#cardNo').value.trim(),
  };
  const key = JSON.stringify(body);
  if (!state.bookingKey || state.bookingKey.body !== key) state.bookingKey = { body: key, idem: newKey() };
  const submit = $('#book-submit');
  submit.disabled = true;
  submit.textContent = t('book.submitting');
  const res = await api('POST', '/orders', { body, token: session.token, idem: state.bookingKey.idem });
  submit.disabled = false;
  submit.textContent = t('book.submit');
  if (res.status === 201) {
    state.bookingKey = null;
    $('#cardNo').value = '';
    location.hash = '#/booking/' + res.data.id;
    loadSlots();
    return;
  }
  if (res.status === 402) {
    state.bookingKey = null; // a declined attempt is final: another card is a new booking
    errBox.textContent = t('book.declined');
    $('#cardNo').setAttribute('aria-invalid', 'true');
    $('#cardNo').focus();
    return;
  }
  if (res.status === 401) {
    session.clear();
    renderSignin();
    errBox.textContent = t('common.sessionExpired');
    return;
  }
  if (res.status === 400 && res.data && res.data.fields && res.data.fields.length) {
    errBox.textContent = t('book.invalid');
    showFieldErrors(form, res.data.fields, errBox);
    return;
  }
  if (res.status !== 0) state.bookingKey = null;
  errBox.textContent = errorText(res);
}

// ------------------------------------------------------------ confirmation

function ics(o) {
  const d = o.checkupDate.replace(/-/g, '');
  const end = addDays(o.checkupDate, 1).replace(/-/g, '');
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  const esc = (s) => String(s).replace(/[\\;,]/g, (c) => '\\' + c).replace(/\n/g, '\\n');
  const lines = [
    'BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//healthcenter//booking//KO', 'CALSCALE:GREGORIAN',
    'BEGIN:VEVENT',
    `UID:order-${o.id}@healthcenter`,
    `DTSTAMP:${stamp}`,
    `DTSTART;VALUE=DATE:${d}`,
    `DTEND;VALUE=DATE:${end}`,
    `SUMMARY:${esc(t('booking.icsSummary', { center: centerName(o.centerId) }))}`,
    `LOCATION:${esc(centerName(o.centerId))}`,
    `DESCRIPTION:${esc(pkgName(o.orderType) + ' #' + o.id)}`,
    'END:VEVENT', 'END:VCALENDAR', '',
  ];
  return 'data:text/calendar;charset=utf-8,' + encodeURIComponent(lines.join('\r\n'));
}

function historyItems(history) {
  return (history || []).map((h) => el('li', {}, badge(h.status), ' ', el('time', { datetime: h.at }, fmtTime(h.at))));
}

async function refreshBooking(id) {
  const res = await api('GET', '/orders/' + id, { token: session.token });
  if (state.view !== 'booking' || state.bookingId !== id) return;
  const dl = $('#booking-details');
  if (res.status !== 200) {
    dl.replaceChildren(el('dd', { class: 'err' }, res.status === 401 ? t('common.sessionExpired') : errorText(res)));
    return;
  }
  const o = res.data;
  const prev = dl.dataset.status;
  const row = (k, v, attrs = {}) => [el('dt', {}, t(k)), el('dd', attrs, v)];
  dl.replaceChildren(
    ...row('booking.number', '#' + o.id),
    ...row('booking.status', badge(o.status), { id: 'booking-status' }),
    ...row('booking.center', centerName(o.centerId)),
    ...row('booking.date', fmtDate(o.checkupDate), { 'data-date': o.checkupDate }),
    ...row('booking.package', pkgName(o.orderType)),
    ...row('booking.amount', won(o.amount)),
    ...row('booking.card', o.cardNo || '-', { id: 'booking-card' }),
    ...(o.reason ? row('booking.reason', o.reason) : []));
  dl.dataset.status = o.status;
  $('#booking-history').replaceChildren(...historyItems(o.history));
  const a = $('#ics');
  a.href = ics(o);
  a.download = `checkup-${o.checkupDate}-${o.id}.ics`;
  if (prev && prev !== o.status) announce(t('booking.statusNow', { status: t('status.' + o.status) }));
}

// ------------------------------------------------------------ mypage

function deadline(m) {
  return addDays(m.checkupDate, -settings.cutoffDays);
}

function cancelRule(m) {
  if (!['PAID', 'REQUESTED', 'CONFIRMED'].includes(m.status)) return { text: t('my.ruleFinal'), open: false };
  const dl = deadline(m);
  if (today() > dl) return { text: t('my.rulePassed', { deadline: fmtDate(dl) }), open: false };
  const key = settings.cutoffDays === 0 ? 'my.rule0' : 'my.rule';
  return { text: t(key, { deadline: fmtDate(dl), n: settings.cutoffDays }), open: true };
}

function renderItem(m) {
  const rule = cancelRule(m);
  const id = m.orderId;
  const ruleId = 'rule-' + id;
  const parts = [
    el('h2', {}, t('my.heading', { id, pkg: pkgName(m.orderType), center: centerName(m.centerId), date: fmtDate(m.checkupDate) })),
    el('p', { class: 'status-line' }, badge(m.status), ' ', won(m.amount)),
    el('ol', { class: 'history', 'aria-label': t('booking.history') }, historyItems(m.history)),
  ];
  if (m.refunded) parts.push(el('p', { class: 'refund' }, t('my.refunded', { amount: won(m.amount) })));
  else if (m.status === 'CANCELED' || m.status === 'REJECTED') parts.push(el('p', { class: 'refund' }, t('my.refundPending')));
  parts.push(el('p', { class: 'rule', id: ruleId }, rule.text));
  if (rule.open) {
    if (state.confirming.has(id)) {
      parts.push(el('div', { class: 'confirm-box', role: 'group', 'aria-labelledby': 'ask-' + id },
        el('p', { id: 'ask-' + id }, t('my.cancelAsk', { amount: won(m.amount) })),
        el('button', { type: 'button', class: 'danger', 'data-action': 'cancel-confirm', onclick: () => cancel(id) }, t('my.cancelConfirm')),
        ' ',
        el('button', { type: 'button', 'data-action': 'cancel-keep', onclick: () => { state.confirming.delete(id); redrawItem(id, true); } }, t('my.cancelKeep'))));
    } else {
      parts.push(el('button', {
        type: 'button', class: 'danger', 'data-action': 'cancel', 'aria-describedby': ruleId,
        onclick: () => { state.confirming.add(id); redrawItem(id, true); },
      }, t('my.cancel')));
    }
  }
  const msg = state.itemMsg.get(id);
  if (msg) parts.push(el('p', { class: msg.error ? 'err' : 'ok', role: 'status' }, msg.text));
  const art = el('article', { class: 'card booking', 'data-order': id, 'data-status': m.status }, parts);
  art.dataset.sig = sig(m);
  return art;
}

const sig = (m) => [m.version, m.status, m.refunded, state.confirming.has(m.orderId), (state.itemMsg.get(m.orderId) || {}).text].join('|');

function redrawItem(id, focus) {
  const m = state.my.get(id);
  const old = document.querySelector(`#my-list [data-order="${id}"]`);
  if (!m || !old) return;
  const art = renderItem(m);
  old.replaceWith(art);
  if (focus) {
    const b = art.querySelector('[data-action]');
    if (b) b.focus();
  }
}

async function cancel(id) {
  const res = await api('DELETE', '/orders/' + id, { token: session.token, idem: newKey() });
  state.confirming.delete(id);
  const m = state.my.get(id);
  if (res.status === 200) {
    const text = t('my.canceled', { id, amount: won(m.amount) });
    state.itemMsg.set(id, { text });
    announce(text);
  } else {
    const code = res.data && res.data.error;
    const text = code === 'cancel_deadline_passed' || code === 'invalid_state' ? t('my.' + code) : errorText(res);
    state.itemMsg.set(id, { text, error: true });
    announce(text);
  }
  await refreshMypage(true);
  const art = document.querySelector(`#my-list [data-order="${id}"]`);
  if (art) {
    art.tabIndex = -1;
    art.focus();
  }
}

async function refreshMypage(force) {
  if (!session.token) return;
  const res = await api('GET', '/mypages?size=100', { token: session.token });
  if (state.view !== 'mypage') return;
  if (res.status === 401) {
    session.clear();
    showMypage();
    return;
  }
  if (res.status !== 200) {
    $('#my-status').textContent = errorText(res);
    return;
  }
  $('#my-status').textContent = '';
  const list = items(res, 'mypages').sort((a, b) => b.orderId - a.orderId);
  const box = $('#my-list');
  if (!list.length) {
    box.replaceChildren(el('p', {}, t('my.empty')));
    return;
  }
  if (box.querySelector('p:only-child')) box.replaceChildren();
  for (const m of list) {
    const before = state.my.get(m.orderId);
    state.my.set(m.orderId, m);
    const old = box.querySelector(`[data-order="${m.orderId}"]`);
    if (!old) {
      box.append(renderItem(m));
    } else if (force || old.dataset.sig !== sig(m)) {
      const had = old.contains(document.activeElement);
      old.replaceWith(renderItem(m));
      if (had) redrawItem(m.orderId, true);
      if (before && before.status !== m.status) announce(`#${m.orderId} ${t('status.' + m.status)}`);
    }
  }
  // keep the newest first
  for (const m of list) box.append(box.querySelector(`[data-order="${m.orderId}"]`));
}

function showMypage() {
  const signed = !!session.token;
  $('#my-signin-hint').hidden = signed;
  $('#signin-slot-my').hidden = signed;
  if (!signed) {
    $('#signin-slot-my').append($('#signin'));
    renderSignin();
    $('#my-list').replaceChildren();
    state.my.clear();
    return;
  }
  startPoll(() => refreshMypage(false));
}

// ------------------------------------------------------------ routing

function startPoll(fn) {
  stopPoll();
  fn();
  state.poll = setInterval(() => {
    if (!document.hidden) fn();
  }, POLL_MS);
}

function stopPoll() {
  if (state.poll) clearInterval(state.poll);
  state.poll = null;
}

function route(focus) {
  const h = location.hash;
  let view = 'book';
  let m;
  if ((m = /^#\/booking\/(\d+)$/.exec(h))) view = 'booking';
  else if (h === '#/mypage') view = 'mypage';
  state.view = view;
  stopPoll();
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== 'view-' + view;
  $('#nav-book').setAttribute('aria-current', view === 'book' ? 'page' : 'false');
  $('#nav-mypage').setAttribute('aria-current', view === 'mypage' ? 'page' : 'false');
  if (view === 'book') {
    $('#signin-slot-book').append($('#signin'));
    renderSignin();
  } else if (view === 'booking') {
    state.bookingId = m[1];
    $('#booking-details').replaceChildren();
    $('#booking-history').replaceChildren();
    startPoll(() => refreshBooking(m[1]));
  } else {
    state.my.clear();
    $('#my-list').replaceChildren();
    showMypage();
  }
  if (focus) {
    const h1 = $('#view-' + view + ' h1');
    h1.tabIndex = -1;
    h1.focus();
  }
}

function redraw() {
  renderPackages();
  renderCalendar(false);
  renderChosen();
  renderSignin();
  document.title = t('app.title');
  if (state.view === 'booking') refreshBooking(state.bookingId);
  if (state.view === 'mypage') refreshMypage(true);
}

initPage(redraw);
document.title = t('app.title');
$('#center').addEventListener('change', (e) => {
  state.center = Number(e.target.value);
  state.date = null;
  state.focusDate = null;
  loadSlots();
});
$('#otp-form').addEventListener('submit', sendCode);
$('#verify-form').addEventListener('submit', verifyCode);
$('#otp-resend').addEventListener('click', resend);
$('#sign-out').addEventListener('click', signOut);
$('#book-form').addEventListener('submit', book);
$('#print').addEventListener('click', () => window.print());
window.addEventListener('hashchange', () => route(true));
route(false);
loadCatalog().then(() => {
  // a booking drawn before the catalog arrived names its package and center now
  if (state.view === 'mypage') refreshMypage(true);
  if (state.view === 'booking') refreshBooking(state.bookingId);
  document.body.dataset.ready = 'true';
  performance.mark('hc-interactive');
});
