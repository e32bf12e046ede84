// common: what the customer's and the admin's pages share: calls to the API
// through the gateway (same origin), the signed-in token, small DOM helpers,
// field errors as the API reports them, dates in the centers' time zone.
import { t, apply, setLang, lang } from './i18n.js';

const cfg = document.documentElement.dataset;
/** Settings the gateway writes into the page (the services' own). */
export const settings = {
  horizonDays: Number(cfg.horizon) || 90,
  cutoffDays: Number.isFinite(Number(cfg.cutoff)) ? Number(cfg.cutoff) : 1,
  tz: cfg.tz && !cfg.tz.startsWith('__') ? cfg.tz : 'Asia/Seoul',
};

/** A token kept for this tab (sessionStorage) under name, with its claims. */
export class Session {
  constructor(name) {
    this.name = name;
  }
  get token() {
    const tok = sessionStorage.getItem(this.name);
    const c = tok && claims(tok);
    if (!c || c.exp * 1000 < Date.now()) return null;
    return tok;
  }
  get claims() {
    const tok = this.token;
    return tok ? claims(tok) : null;
  }
  set(token, extra = {}) {
    sessionStorage.setItem(this.name, token);
    sessionStorage.setItem(this.name + '.extra', JSON.stringify(extra));
  }
  get extra() {
    try {
      return JSON.parse(sessionStorage.getItem(this.name + '.extra')) || {};
    } catch {
      return {};
    }
  }
  clear() {
    sessionStorage.removeItem(this.name);
    sessionStorage.removeItem(this.name + '.extra');
  }
}

/** The claims of a JWT (not verified: the services verify; the page only
 * reads who it is and when it expires). */
export function claims(token) {
  try {
    const b64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64);
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}

/** Calls the API: resolves to {status, data, headers} for every HTTP answer
 * (data: the JSON body or null); status 0 when the server cannot be reached.
 * opts: body (sent as JSON), token, idem (an Idempotency-Key). */
export async function api(method, path, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.token) headers.Authorization = 'Bearer ' + opts.token;
  if (opts.idem) headers['Idempotency-Key'] = opts.idem;
  let r;
  try {
    r = await fetch(path, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      cache: 'no-store',
    });
  } catch {
    return { status: 0, data: null, headers: new Headers() };
  }
  let data = null;
  try {
    data = await r.json();
  } catch {
    data = null;
  }
  return { status: r.status, data, headers: r.headers };
}

/** The items of a Spring Data REST collection answer. */
export function items(res, name) {
  return (res.data && res.data._embedded && res.data._embedded[name]) || [];
}

/** A message for an error answer that no caller explained better. */
export function errorText(res) {
  if (res.status === 0) return t('common.network');
  if (res.status === 503 || res.status === 429) {
    const s = res.headers.get('Retry-After') || '1';
    return t('common.retryLater', { s });
  }
  return (res.data && res.data.message) || 'HTTP ' + res.status;
}

/** Creates an element: el('p', {class: 'x', onclick: f}, 'text', child). */
export function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** Says msg to screen readers (and shows it where the page has a status line). */
export function announce(msg) {
  const live = $('#live');
  live.textContent = '';
  setTimeout(() => (live.textContent = msg), 30);
}

/** Removes every field error of form. */
export function clearErrors(form) {
  for (const e of form.querySelectorAll('.err')) e.textContent = '';
  for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
}

/** Shows the API's field errors next to their inputs (an element #err-<field>
 * and the input named <field>) and the rest in summary; focuses the first
 * invalid input. Returns the number shown. */
export function showFieldErrors(form, fields, summary) {
  let first = null;
  const rest = [];
  for (const f of fields || []) {
    const box = form.querySelector('#err-' + f.field) || document.getElementById('err-' + f.field);
    const input = form.querySelector('[name="' + f.field + '"]');
    if (box) {
      box.textContent = f.message;
      if (input) input.setAttribute('aria-invalid', 'true');
      first = first || input || box;
    } else {
      rest.push(t('common.fieldError', { field: t('field.' + f.field), message: f.message }));
    }
  }
  if (summary && rest.length) summary.textContent += ' ' + rest.join(' ');
  if (first && first.focus) first.focus();
  return (fields || []).length;
}

/** Today's date (YYYY-MM-DD) in the centers' time zone. */
export function today() {
  return new Intl.DateTimeFormat('en-CA', { timeZone: settings.tz }).format(new Date());
}

/** The date n days after iso (YYYY-MM-DD), calendar arithmetic in UTC. */
export function addDays(iso, n) {
  const d = new Date(iso + 'T00:00:00Z');
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** A date as the language writes it, with its weekday. */
export function fmtDate(iso) {
  const d = new Date(iso + 'T00:00:00Z');
  return new Intl.DateTimeFormat(lang() === 'ko' ? 'ko-KR' : 'en-GB', {
    timeZone: 'UTC', year: 'numeric', month: 'long', day: 'numeric', weekday: 'short',
  }).format(d);
}

/** A timestamp as a local date and time in the centers' time zone. */
export function fmtTime(ts) {
  return new Intl.DateTimeFormat(lang() === 'ko' ? 'ko-KR' : 'en-GB', {
    timeZone: settings.tz, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).format(new Date(ts));
}

/** A status badge. */
export function badge(status) {
  return el('span', { class: 'badge s-' + status.toLowerCase(), 'data-status': status }, t('status.' + status));
}

/** Wires the language buttons and fills the page's texts; redraw runs after
 * each switch. */
export function initPage(redraw) {
  for (const b of document.querySelectorAll('[data-lang]')) b.addEventListener('click', () => setLang(b.dataset.lang, redraw));
  apply();
}

/** A fresh Idempotency-Key. */
export function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
}
