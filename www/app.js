// The web POS shell: sign-in (token entry or a #token=… link), navigation, shared helpers.
// Plain ES modules; the kipp-web package is served by the worker at /pkg/.
import init, { KippClient, KippError, formatAmount } from '/pkg/kipp_web.js';

const TOKEN_KEY = 'kipp.token';
export const state = { client: null, me: null };

/** h('button', { class: 'primary', onclick }, 'Charge') */
/**
 * A click or submit handler that runs one call at a time: its button is off until the call
 * settles, so a double click makes one store, one code or one token, not two.
 */
export function oneAtATime(handler) {
  let running = false;
  return async (ev) => {
    if (running) {
      if (ev?.type === 'submit') ev.preventDefault();
      return;
    }
    running = true;
    // Read now: `currentTarget` is gone once the event has been dispatched.
    const button = ev?.submitter ?? ev?.currentTarget;
    const off = button instanceof HTMLButtonElement ? button : null;
    if (off) off.disabled = true;
    try {
      await handler(ev);
    } finally {
      running = false;
      if (off) off.disabled = false;
    }
  };
}

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    // Through the CSSOM: the POS's Content-Security-Policy (www/_headers) refuses style attributes.
    else if (k === 'style') el.style.cssText = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** `el.replaceChildren(...)` that skips null/false children, as `h` does (no "null" text). */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

export const money = (minor, currency = 'SEK') => formatAmount(minor, currency, navigator.language || 'en');

export function toast(text) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove('show'), 2500);
}

/** A sentence that says what went wrong and what to do. */
export function explain(e) {
  if (!(e instanceof KippError)) return `Something went wrong: ${e?.message ?? e}. Reload the page and try again.`;
  const ref = e.requestId ? ` (reference ${e.requestId})` : '';
  switch (e.code) {
    case 'unauthorized': return `${whyNotSignedIn(e)} Sign in again with a new token.`;
    case 'forbidden': return `Not allowed with this sign-in: ${e.message}. Ask an admin for a token that may do this.${ref}`;
    case 'validation_failed': return `Check the input: ${e.fieldErrors.map((f) => `${f.path || 'request'} ${f.message}`).join('; ') || e.message}.`;
    // The reader busy with another sale is the conflict a clerk meets; other conflicts say what they are.
    case 'conflict': return e.reason === 'device_busy'
      ? `The card reader is busy with another sale. Finish or cancel that sale, then try again.${ref}`
      : `${e.message}.${ref}`;
    case 'network': return 'No connection to the POS server. Check the network; it will work again once you are back online.';
    case 'timeout': return `No answer in time. Try again.${ref}`;
    case 'rate_limited': case 'upstream_unavailable': return `The payment service is busy or unavailable. Wait a moment and try again.${ref}`;
    case 'not_found': return `Not found: ${e.message}. Reload to see the current list.${ref}`;
    default: return `${e.message}${ref}`;
  }
}

/** Shows `e` in `container`, in place of the error shown there before (errors do not pile up). */
export function showError(container, e) {
  for (const old of container.querySelectorAll(':scope > .err[role="alert"]')) old.remove();
  container.append(errorBox(e));
}

export function errorBox(e) {
  // Once: several calls can fail with the same expired token, and each sign-out would rebuild
  // the sign-in form under the clerk's typing.
  if (e instanceof KippError && e.code === 'unauthorized' && state.me) signOut(`${whyNotSignedIn(e)} Sign in again to continue.`);
  return h('p', { class: 'err', role: 'alert' }, explain(e));
}

/** Why a token was refused, from the worker's own code for it (expired, revoked or not a token). */
function whyNotSignedIn(e) {
  switch (e.reason) {
    case 'token_revoked': return 'This sign-in has been revoked.';
    case 'token_expired': return 'This sign-in has expired.';
    case 'token_not_yet_valid': return 'This sign-in is not valid yet: check this device\'s clock.';
    default: return 'That is not a valid POS token (check that it was copied whole).';
  }
}

// A sign-in link carries the token as #token=… (or ?token=…); it is stored and removed from the URL.
let badLink = false; // the last sign-in link could not be read
function readToken() {
  const m = location.hash.match(/[#&]token=([^&]+)/) ?? location.search.match(/[?&]token=([^&]+)/);
  badLink = false;
  if (m) {
    // A mangled link (bad %-escape) must show the sign-in form, saying why, not leave the page loading.
    try { localStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1])); } catch { badLink = true; }
    history.replaceState(null, '', location.pathname + '#/checkout');
  }
  return localStorage.getItem(TOKEN_KEY);
}

export function signOut(reason) {
  localStorage.removeItem(TOKEN_KEY);
  // The screen's timers, sockets and waits end with the sign-in they used (and a screen still
  // rendering is dropped when it finishes: see `route`).
  routeGeneration++;
  state.cleanup?.();
  state.cleanup = null;
  state.client = null;
  state.me = null;
  showSignIn(reason);
}

function showSignIn(reason) {
  document.getElementById('nav').hidden = true;
  document.getElementById('who').replaceChildren();
  const input = h('textarea', { id: 'token-input', 'aria-describedby': 'signin-help', autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', { class: 'card signin', onsubmit: (ev) => {
    ev.preventDefault();
    // A token has no whitespace: what a wrapped terminal or a mail client put into a pasted one goes.
    const t = input.value.replace(/\s+/g, '');
    if (!t) return;
    localStorage.setItem(TOKEN_KEY, t);
    start();
  } },
  h('h1', {}, 'Sign in'),
  reason ? h('p', { class: 'err', role: 'alert' }, reason) : null,
  h('label', { for: 'token-input' }, 'POS token'),
  input,
  h('p', { id: 'signin-help', class: 'muted' }, 'Paste the token an admin gave you (it starts with kipp1.), or open the sign-in link printed by make dev.'),
  h('button', { class: 'primary', type: 'submit' }, 'Sign in'));
  document.getElementById('main').replaceChildren(form);
  input.focus();
}

const screens = {
  checkout: () => import('/checkout.js'),
  admin: () => import('/admin.js'),
  terminal: () => import('/terminal.js'),
};

// Each route (and each sign-out) starts a generation: a screen whose render finishes after the
// user has moved on is cleaned up at once instead of being kept (its timers would run on).
let routeGeneration = 0;

async function route() {
  if (!state.me) return;
  const generation = ++routeGeneration;
  let name = (location.hash.match(/^#\/(\w+)/) ?? [])[1] ?? 'checkout';
  if (!screens[name] || (name === 'admin' && state.me.role !== 'admin') || (name === 'terminal' && !state.me.playground)) {
    // The address says what is shown (a clerk who opens #/admin is on the checkout screen).
    name = 'checkout';
    if (location.hash !== '#/checkout') history.replaceState(null, '', location.pathname + '#/checkout');
  }
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.screen === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const main = document.getElementById('main');
  main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  state.cleanup?.();
  state.cleanup = null;
  let cleanup;
  try {
    const mod = await screens[name]();
    if (generation !== routeGeneration) return;
    const view = h('section', { 'aria-labelledby': 'screen-title' });
    main.replaceChildren(view);
    cleanup = await mod.render(view, state);
  } catch (e) {
    // The screen's code did not load (the network dropped) or its first draw failed: say so,
    // with a way on, instead of "Loading…" for ever. A reload, since the browser may keep a
    // module that failed to load as failed for the page's life.
    if (generation !== routeGeneration) return;
    main.replaceChildren(errorBox(e), h('button', { id: 'retry-screen', onclick: () => location.reload() }, 'Try again'));
    return;
  }
  if (generation !== routeGeneration) {
    cleanup?.();
    return;
  }
  state.cleanup = cleanup;
  main.focus({ preventScroll: true });
}

async function start() {
  const token = readToken();
  if (!token) return showSignIn(badLink ? 'That sign-in link is damaged (it was cut or altered on its way). Open it again, or paste the token below.' : undefined);
  state.client = new KippClient({ baseUrl: location.origin, token });
  try {
    state.me = await state.client.me();
  } catch (e) {
    if (e instanceof KippError && (e.code === 'unauthorized' || e.code === 'validation_failed')) {
      return signOut(`${e.code === 'unauthorized' ? whyNotSignedIn(e) : 'That is not a valid POS token (check that it was copied whole).'} Sign in again with a new token.`);
    }
    document.getElementById('main').replaceChildren(errorBox(e), h('button', { onclick: start }, 'Try again'));
    return;
  }
  const nav = document.getElementById('nav');
  nav.hidden = false;
  for (const a of nav.querySelectorAll('[data-role="admin"]')) a.hidden = state.me.role !== 'admin';
  for (const a of nav.querySelectorAll('[data-playground]')) a.hidden = !state.me.playground;
  const exp = new Date(state.me.expires_at * 1000);
  // A location's sign-in names its store once known (the list is the scope's one location).
  const where = h('bdi', {}, state.me.location_id ? 'one location' : 'all locations');
  if (state.me.location_id) {
    const { client, me } = state;
    client.listLocations({ page_size: 1 }).then((page) => {
      const l = page.content.find((x) => x.id === me.location_id);
      if (l?.name) where.textContent = l.name;
    }).catch(() => { /* the generic words stay */ });
  }
  document.getElementById('who').replaceChildren(
    h('span', {}, `${state.me.role} · `, where, ` · until ${exp.toLocaleString()}`),
    h('button', { onclick: () => signOut(), 'aria-label': 'Sign out' }, 'Sign out'));
  await route();
}

window.addEventListener('hashchange', () => {
  if (/[#&]token=/.test(location.hash)) start();
  else route();
});
await init();
start();
