// admin: the center admin's pages at /admin: sign in with a password, the
// queue of reservations of the admin's centers (filter by date and status),
// confirm or reject one or several, the day view of a center with its
// capacity used and the form that changes it.
import { t } from './i18n.js';
import {
  api, items, errorText, el, $, announce, clearErrors, showFieldErrors, today, addDays,
  badge, initPage, Session,
} from './common.js';

const session = new Session('hc.admin');
const state = { centers: [], rows: new Map(), day: null };

// ------------------------------------------------------------ sign-in

async function login(ev) {
  ev.preventDefault();
  const form = $('#login-form');
  clearErrors(form);
  $('#login-error').textContent = '';
  const username = $('#username').value.trim();
  const res = await api('POST', '/auth/login', { body: { username, password: $('#password').value } });
  if (res.status === 200 && res.data.accessToken) {
    session.set(res.data.accessToken, { user: username });
    $('#password').value = '';
    await show();
    $('#queue-title').focus();
    return;
  }
  const code = res.data && res.data.error;
  if (res.status === 400 && res.data.fields && res.data.fields.length) {
    showFieldErrors(form, res.data.fields, $('#login-error'));
    return;
  }
  $('#login-error').textContent = code === 'invalid_credentials' ? t('signin.invalid_credentials')
    : res.status === 429 ? t('signin.too_many_requests', { s: res.headers.get('Retry-After') || '1' })
      : errorText(res);
  $('#password').focus();
}

function signOut() {
  session.clear();
  show();
}

function expired() {
  session.clear();
  show();
  $('#login-error').textContent = t('common.sessionExpired');
}

// ------------------------------------------------------------ queue

function centerName(id) {
  const c = state.centers.find((x) => x.id === id);
  return c ? c.name : '#' + id;
}

async function loadCenters() {
  const res = await api('GET', '/centers');
  const all = items(res, 'centers');
  const c = session.claims;
  state.centers = c.role === 'superadmin' ? all : all.filter((x) => (c.centers || []).includes(x.id));
  const opts = (withAll) => [
    ...(withAll && state.centers.length > 1 ? [el('option', { value: '' }, t('admin.allCenters'))] : []),
    ...state.centers.map((x) => el('option', { value: x.id }, x.name)),
  ];
  const keep = $('#f-center').value;
  $('#f-center').replaceChildren(...opts(true));
  if (keep) $('#f-center').value = keep;
  const keepDay = $('#d-center').value;
  $('#d-center').replaceChildren(...opts(false));
  if (keepDay) $('#d-center').value = keepDay;
  const who = c.role === 'superadmin' ? t('signin.allCenters') : state.centers.map((x) => x.name).join(', ');
  $('#who-text').textContent = t('signin.as', { user: session.extra.user || c.sub, centers: who });
}

async function loadQueue(ev) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams({ size: '100' });
  const center = $('#f-center').value;
  const date = $('#f-date').value;
  const status = $('#f-status').value;
  if (center) q.set('centerId', center);
  if (date) q.set('date', date);
  if (status) q.set('status', status);
  const res = await api('GET', '/reservations?' + q, { token: session.token });
  if (res.status === 401) return expired();
  if (res.status !== 200) {
    $('#queue-count').textContent = errorText(res);
    return;
  }
  // the admin's own centers only (a superadmin sees every center anyway)
  const ids = new Set(state.centers.map((c) => c.id));
  const list = items(res, 'reservations').filter((r) => ids.has(r.centerId))
    .sort((a, b) => (a.checkupDate < b.checkupDate ? -1 : a.checkupDate > b.checkupDate ? 1 : a.id - b.id));
  state.rows = new Map(list.map((r) => [r.id, r]));
  $('#queue-rows').replaceChildren(...list.map(row));
  $('#select-all').checked = false;
  $('#queue-count').textContent = list.length ? t('admin.count', { n: list.length }) : t('admin.none');
}

function row(r) {
  const open = r.status === 'REQUESTED';
  return el('tr', { 'data-id': r.id, 'data-status': r.status },
    el('td', {}, el('input', { type: 'checkbox', class: 'pick', value: r.id, disabled: !open, 'aria-label': t('admin.select', { id: r.id }) })),
    el('td', {}, '#' + r.id),
    el('td', {}, '#' + r.orderId),
    el('td', {}, centerName(r.centerId)),
    el('td', {}, r.checkupDate),
    el('td', { class: 'st' }, badge(r.status)),
    el('td', {}, r.reason || ''),
    el('td', {}, el('div', { class: 'row-actions' },
      el('button', { type: 'button', 'data-action': 'confirm', disabled: !open, 'aria-label': t('admin.confirmOne', { id: r.id }), onclick: () => act([r.id], 'CONFIRMED') }, t('admin.confirm')),
      el('button', { type: 'button', class: 'danger', 'data-action': 'reject', disabled: !open, 'aria-label': t('admin.rejectOne', { id: r.id }), onclick: () => act([r.id], 'REJECTED') }, t('admin.reject')))));
}

function selected() {
  return [...document.querySelectorAll('#queue-rows .pick:checked')].map((c) => Number(c.value));
}

/** Confirms or rejects each reservation of ids, one call each, and shows
 * every result at once in its row and in the result list. */
async function act(ids, status) {
  const result = $('#result');
  $('#err-reason').textContent = '';
  $('#reason').removeAttribute('aria-invalid');
  if (!ids.length) {
    result.replaceChildren(el('p', { class: 'err' }, t('admin.needSelection')));
    return;
  }
  const reason = $('#reason').value.trim();
  if (status === 'REJECTED' && !reason) {
    $('#err-reason').textContent = t('admin.needReason');
    $('#reason').setAttribute('aria-invalid', 'true');
    $('#reason').focus();
    return;
  }
  const lines = [];
  let ok = 0;
  for (const id of ids) {
    const body = status === 'REJECTED' ? { status, reason } : { status };
    const res = await api('PATCH', '/reservations/' + id, { body, token: session.token });
    if (res.status === 401) return expired();
    if (res.status === 200) {
      ok++;
      state.rows.set(id, res.data);
      lines.push(el('li', { class: 'ok' }, t(status === 'CONFIRMED' ? 'admin.confirmed' : 'admin.rejected', { id })));
    } else {
      lines.push(el('li', { class: 'err' }, t('admin.failed', { id, message: errorText(res) })));
    }
    const old = document.querySelector(`#queue-rows tr[data-id="${id}"]`);
    if (old && state.rows.get(id)) old.replaceWith(row(state.rows.get(id)));
  }
  if (ids.length > 1) lines.unshift(el('li', {}, t('admin.batch', { ok, failed: ids.length - ok })));
  result.replaceChildren(el('ul', {}, lines));
  announce(lines.map((l) => l.textContent).join('. '));
  if (state.day) showDay();
}

// ------------------------------------------------------------ day view

async function showDay(ev) {
  if (ev) ev.preventDefault();
  const center = $('#d-center').value;
  const date = $('#d-date').value || addDays(today(), 1);
  $('#d-date').value = date;
  state.day = { center, date };
  const res = await api('GET', `/centers/${center}/slots?from=${date}&to=${date}`);
  const s = items(res, 'slots')[0];
  if (!s) {
    $('#day-view').replaceChildren(el('p', { class: 'err' }, errorText(res)));
    $('#capacity-form').hidden = true;
    return;
  }
  const stat = (k, v, id) => el('div', {}, el('strong', { id }, String(v)), t(k));
  $('#day-view').replaceChildren(
    el('p', {}, centerName(Number(center)), ' · ', date),
    el('div', { class: 'stats' },
      stat('admin.capacity', s.capacity, 'day-capacity'),
      stat('admin.booked', s.booked, 'day-booked'),
      stat('admin.remaining', s.remaining, 'day-remaining')),
    el('p', {}, el('label', { for: 'day-meter' }, t('admin.used', { booked: s.booked, capacity: s.capacity })), ' ',
      el('meter', { id: 'day-meter', class: 'meter', min: '0', max: String(Math.max(s.capacity, 1)), value: String(Math.min(s.booked, Math.max(s.capacity, 1))) })));
  $('#capacity').value = s.capacity;
  $('#capacity-form').hidden = false;
}

async function saveCapacity(ev) {
  ev.preventDefault();
  const form = $('#capacity-form');
  clearErrors(form);
  const { center, date } = state.day;
  const n = Number($('#capacity').value);
  const res = await api('PUT', `/centers/${center}/slots/${date}`, { body: { capacity: n }, token: session.token });
  if (res.status === 401) return expired();
  if (res.status === 200) {
    $('#day-result').textContent = t('admin.capacitySaved', { date, n: res.data.capacity });
    await showDay();
    return;
  }
  if (res.status === 400 && res.data && res.data.fields) showFieldErrors(form, res.data.fields, $('#day-result'));
  else $('#day-result').textContent = errorText(res);
}

// ------------------------------------------------------------ page

async function show() {
  const signed = !!session.token;
  $('#login').hidden = signed;
  $('#console').hidden = !signed;
  $('#who').hidden = !signed;
  if (!signed) return;
  await loadCenters();
  await loadQueue();
  if (!$('#d-date').value) $('#d-date').value = addDays(today(), 1);
  await showDay();
}

function redraw() {
  document.title = t('app.adminTitle');
  if (session.token) show();
}

initPage(redraw);
document.title = t('app.adminTitle');
$('#queue-title').tabIndex = -1;
$('#login-form').addEventListener('submit', login);
$('#sign-out').addEventListener('click', signOut);
$('#filters').addEventListener('submit', loadQueue);
$('#f-status').addEventListener('change', () => loadQueue());
$('#f-center').addEventListener('change', () => loadQueue());
$('#f-date').addEventListener('change', () => loadQueue());
$('#select-all').addEventListener('change', (e) => {
  for (const c of document.querySelectorAll('#queue-rows .pick:not(:disabled)')) c.checked = e.target.checked;
});
$('#confirm-selected').addEventListener('click', () => act(selected(), 'CONFIRMED'));
$('#reject-selected').addEventListener('click', () => act(selected(), 'REJECTED'));
$('#day-form').addEventListener('submit', showDay);
$('#capacity-form').addEventListener('submit', saveCapacity);
show().then(() => {
  document.body.dataset.ready = 'true';
  performance.mark('hc-interactive');
});
