// Checkout: build a cart, pick a device of the clerk's location, charge, follow the payment live.
import { validateSession } from '/pkg/kipp_web.js';
import { h, money, errorBox, explain, showError } from '/app.js';

const CURRENCY = 'SEK';
const CATALOG = [
  { name: 'Coffee', unit_price: 3500, tax_rate: 1200 },
  { name: 'Cinnamon bun', unit_price: 2900, tax_rate: 1200 },
  { name: 'Sandwich', unit_price: 7900, tax_rate: 1200 },
  { name: 'Juice', unit_price: 3900, tax_rate: 1200 },
  { name: 'Mug', unit_price: 12900, tax_rate: 2500 },
  { name: 'Tote bag', unit_price: 19900, tax_rate: 2500 },
];

// Tax included in a total, rounded half up: what kipp-core's validation expects.
const includedTax = (total, rate) => Math.floor((2 * total * rate + (10000 + rate)) / (2 * (10000 + rate)));

const TERMINAL = ['FINALIZED', 'CANCELLED', 'EXPIRED', 'FAILED'];
/** Failures after which the create may have reached the reader: resending the same sale (same key) is the safe retry. */
const UNKNOWN_OUTCOME = ['network', 'timeout', 'upstream_unavailable', 'rate_limited', 'http_error', 'invalid_response'];

/**
 * The sale in progress, kept in this tab's sessionStorage until it ends: `{ key, sig, request }`
 * once it is sent, plus `session_id` once the reader has it. A reload, or a sign-in that expired
 * mid-sale, comes back to it (following it, or resending it with the same key) instead of an
 * empty cart that hides whether the customer paid.
 */
const SALE_KEY = 'kipp.sale';
const saved = {
  get() { try { return JSON.parse(sessionStorage.getItem(SALE_KEY) ?? 'null'); } catch { return null; } },
  set(v) { try { sessionStorage.setItem(SALE_KEY, JSON.stringify(v)); } catch { /* storage full or off: the sale goes on */ } },
  clear() { try { sessionStorage.removeItem(SALE_KEY); } catch { /* as above */ } },
};

/** A fresh Idempotency-Key for one sale on one reader. */
const newKey = () => crypto.randomUUID?.() ?? Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

const REASONS = {
  insufficient_funds: 'insufficient funds', declined_generic: 'declined by the bank', lost_card: 'card reported lost',
  stolen_card: 'card reported stolen', expired_card: 'card expired', incorrect_cvc: 'wrong CVC', processing_error: 'processing error',
  incorrect_number: 'wrong card number', card_velocity_exceeded: 'card limit reached',
};

export async function render(view, { client, me }) {
  const cart = new Map(); // name -> { item, qty }
  let stopped = false; // by the cleanup: leaving the screen or signing out
  // { session, abort, done, status, other }: the sale on the reader, followed live. `other`: a sale
  // this cart did not send (another till's, or an earlier cart's), followed only to see it end.
  let live = null;
  let sending = false; // a create is on its way
  let focusStatus = false; // the next status takes keyboard focus (see charge)
  // The sale last sent and not yet settled: { sig, key, request }. A retry of the same cart on the
  // same reader resends it with the same Idempotency-Key, so the worker answers with the session
  // the first attempt opened (if it did) instead of opening a second one: charging twice is not
  // possible whatever the network did. A new cart or reader, or a settled sale, gets a new key.
  let pending = null;
  const cartBody = h('tbody');
  const totalEl = h('p', { class: 'total', 'aria-live': 'polite' });
  const deviceSel = h('select', { id: 'device', name: 'device' });
  const chargeBtn = h('button', { class: 'primary', id: 'charge', onclick: charge }, 'Charge');
  const statusEl = h('div', { id: 'status', 'aria-live': 'polite' });
  const deviceMsg = h('div');

  const products = CATALOG.map((p) => h('button', { onclick: () => busy() || add(p), 'data-product': p.name },
    p.name, h('small', {}, money(p.unit_price, CURRENCY))));

  view.append(
    h('h1', { id: 'screen-title' }, 'Checkout'),
    h('div', { class: 'grid' },
      h('div', { class: 'card' }, h('h2', {}, 'Products'), h('div', { class: 'products' }, products)),
      h('div', { class: 'card' },
        h('h2', {}, 'Cart'),
        h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Item'), h('th', { class: 'num' }, 'Qty'), h('th', { class: 'num' }, 'Total'), h('th', {}, h('span', { class: 'muted' }, '')))), cartBody),
        totalEl,
        h('label', { for: 'device' }, 'Card reader'),
        h('div', { class: 'row' }, deviceSel, h('button', { onclick: loadDevices, 'aria-label': 'Reload card readers' }, 'Reload')),
        deviceMsg,
        h('div', { class: 'row', style: 'margin-top:.8rem' }, chargeBtn),
        statusEl)));

  function lines() {
    return [...cart.values()].map(({ item, qty }) => {
      const total = qty * item.unit_price;
      return { type: 'physical', name: item.name, quantity: qty, unit_price: item.unit_price, total_amount: total, tax_rate: item.tax_rate, total_tax_amount: includedTax(total, item.tax_rate) };
    });
  }
  // While a sale is sent or under way, the cart and reader stay as they were charged.
  const busy = () => sending || (!!live && !live.done);
  // A paid sale's cart is not charged again: the next product, −, + or × starts a new sale.
  const paid = () => !!live?.done && !live.other && live.status === 'FINALIZED';
  function add(item, delta = 1) {
    // The next customer's first product after a paid sale starts a new sale.
    if (paid()) newSale();
    const cur = cart.get(item.name) ?? { item, qty: 0 };
    cur.qty += delta;
    if (cur.qty <= 0) cart.delete(item.name); else cart.set(item.name, cur);
    drawCart();
  }
  function drawCart() {
    const ls = lines();
    // Rows are rebuilt: the focused −/+/× button is found again by its label.
    const focused = cartBody.contains(document.activeElement) ? document.activeElement.getAttribute('aria-label') : null;
    cartBody.replaceChildren(...ls.map((l) => h('tr', {},
      h('td', {}, l.name),
      h('td', { class: 'num' },
        h('button', { onclick: () => add(cart.get(l.name).item, -1), disabled: busy(), 'aria-label': `One less ${l.name}` }, '−'), ' ', l.quantity, ' ',
        h('button', { onclick: () => add(cart.get(l.name).item, 1), disabled: busy(), 'aria-label': `One more ${l.name}` }, '+')),
      h('td', { class: 'num' }, money(l.total_amount, CURRENCY)),
      h('td', {}, h('button', { class: 'danger', onclick: () => { if (paid()) newSale(); else { cart.delete(l.name); drawCart(); } }, disabled: busy(), 'aria-label': `Remove ${l.name}` }, '×')))));
    if (!ls.length) cartBody.append(h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'Tap a product to add it.')));
    if (focused) [...cartBody.querySelectorAll('button')].find((b) => b.getAttribute('aria-label') === focused)?.focus();
    const sum = ls.reduce((a, l) => a + l.total_amount, 0);
    totalEl.textContent = `Total ${money(sum, CURRENCY)}`;
    chargeBtn.disabled = !ls.length || !deviceSel.value || busy() || paid();
    for (const b of products) b.disabled = busy();
    deviceSel.disabled = busy();
  }

  async function loadDevices() {
    deviceMsg.replaceChildren();
    try {
      const page = await client.listDevices({ location_id: me.location_id ?? undefined, page_size: 100 });
      const prev = deviceSel.value || localStorage.getItem('kipp.device');
      deviceSel.replaceChildren(...page.content.map((d) => h('option', { value: d.id }, d.name ?? d.id)));
      if (prev && page.content.some((d) => d.id === prev)) deviceSel.value = prev;
      if (!page.content.length) {
        deviceMsg.append(h('p', { class: 'muted' }, me.role === 'admin'
          ? 'No card reader at this location yet. Enroll one under Admin → “Enroll a card reader”.'
          : 'No card reader at this location yet. Ask an admin to enroll one.'));
      }
    } catch (e) {
      showError(deviceMsg, e);
    }
    drawCart();
  }
  deviceSel.addEventListener('change', () => { localStorage.setItem('kipp.device', deviceSel.value); drawCart(); });

  function showStatus(kind, title, detail, ...actions) {
    // Keyboard and screen-reader users keep their place: focus on a button of the old status
    // moves to the first button of the new one rather than falling back to the page.
    const hadFocus = statusEl.contains(document.activeElement) || focusStatus;
    focusStatus = false;
    statusEl.replaceChildren(h('div', { class: `status ${kind}`, 'data-state': title.toLowerCase(), tabindex: '-1' },
      h('strong', {}, title), detail ? h('p', {}, detail) : null, actions.length ? h('div', { class: 'row' }, actions) : null));
    // A status without buttons ("Sending…") holds the focus itself until the next one.
    if (hadFocus) (statusEl.querySelector('button') ?? statusEl.querySelector('.status'))?.focus();
  }

  function onUpdate(session, st) {
    // Only the sale on screen: a late answer about an earlier one (a cancel that came back after
    // "Charge again", a follow still reconnecting) must not end the sale now on the reader.
    if (stopped || !live || session.session_id !== live.session.session_id) return;
    if (TERMINAL.includes(st.status)) {
      live.done = true;
      live.status = st.status;
      // Another sale's end settles nothing of this cart's.
      if (!live.other) {
        pending = null;
        saved.clear();
      }
      drawCart();
    }
    // The same state comes from several places (the live update, the wait's end, a cancel's
    // answer): drawn once, since each drawing is read out again. After "Reconnecting…" it is
    // drawn again, which takes the note away.
    // A decline shows only while the sale is open; an ended sale's status does not show it (and
    // the cancel's answer and the wait's end do not carry it).
    const open = !TERMINAL.includes(st.status);
    const drawn = [st.status, open && st.failure_reason, open && st.failed_attempts, session.order_id ?? st.order_id].join('|');
    if (live.drawn === drawn && !statusEl.querySelector('.reconnecting')) return;
    live.drawn = drawn;
    if (live.other) {
      otherSale(session, st);
      return;
    }
    const cancel = h('button', { class: 'danger', id: 'cancel', onclick: () => cancel_(session.session_id) }, 'Cancel payment');
    const amount = session.order_amount != null ? `${money(session.order_amount, session.purchase_currency ?? CURRENCY)}: ` : '';
    if (st.status === 'CREATED') showStatus('wait', 'Sent to device', `${amount}waiting for the customer to tap, insert or swipe a card.`, cancel);
    else if (st.status === 'ACTIVE' && st.failure_reason) {
      const why = REASONS[st.failure_reason] ?? st.failure_reason.replaceAll('_', ' ');
      showStatus('bad', 'Declined', `Reason: ${why}. Ask the customer to try again (tap the card again or use another card) — the reader is still waiting.`, cancel);
    } else if (st.status === 'ACTIVE') showStatus('wait', 'In progress', `${amount}the customer is paying on the reader.`, cancel);
    else if (st.status === 'FINALIZED') {
      const amountPaid = session.order_amount != null ? ` · ${money(session.order_amount, session.purchase_currency ?? CURRENCY)}` : '';
      // FINALIZED can come before Kustom reports the order (the worker takes the id later).
      const order = session.order_id ?? st.order_id;
      showStatus('ok', 'Paid', `${order ? `Order ${order}` : 'Order number to follow'}${amountPaid}`, h('button', { class: 'primary', onclick: newSale }, 'New sale'));
    }
    else if (st.status === 'CANCELLED') showStatus('warn', 'Cancelled', 'No money was taken.', h('button', { class: 'primary', onclick: charge }, 'Charge again'), h('button', { onclick: newSale }, 'New sale'));
    else if (st.status === 'EXPIRED') showStatus('warn', 'Expired', 'The customer did not pay in time. No money was taken.', h('button', { class: 'primary', onclick: charge }, 'Charge again'), h('button', { onclick: newSale }, 'New sale'));
    else if (st.status === 'FAILED') showStatus('bad', 'Failed', 'The payment failed. No money was taken.', h('button', { class: 'primary', onclick: charge }, 'Charge again'), h('button', { onclick: newSale }, 'New sale'));
  }

  /** The status of a sale this cart did not send, followed to see when the reader is free. */
  function otherSale(session, st) {
    const amount = session.order_amount != null ? money(session.order_amount, session.purchase_currency ?? CURRENCY) : 'another amount';
    if (TERMINAL.includes(st.status)) {
      const how = st.status === 'FINALIZED' ? 'was paid (this cart was not)' : `ended ${st.status.toLowerCase()}`;
      showStatus('warn', 'Other sale ended', `The reader's other sale (${amount}) ${how}. Press Charge to send this cart.`);
      return;
    }
    const stop = () => { live?.abort.abort(); live = null; statusEl.replaceChildren(); drawCart(); };
    showStatus('wait', 'Following another sale', `The reader's other sale (${amount}) is open; press Charge for this cart once it ends.`,
      h('button', { class: 'danger', id: 'cancel-other', onclick: () => cancel_(session.session_id) }, 'Cancel that sale'),
      h('button', { id: 'stop-following', onclick: stop }, 'Stop following'));
  }

  let cancelling = false; // one cancel at a time (a double press sends one)
  async function cancel_(id) {
    if (cancelling) return;
    cancelling = true;
    try {
      const s = await client.cancelSession(id);
      // Shown at once, also when the live follow has stopped.
      onUpdate(s, stateOf(s));
    } catch (e) {
      // Left, or moved on to another sale meanwhile: this refusal is not about the sale on screen.
      if (stopped || live?.session.session_id !== id) return;
      // Refused because the sale is over (cancelled from elsewhere, or paid meanwhile): its state
      // is the answer, not the refusal.
      if (e.code === 'conflict') {
        const s = await client.getSession(id).catch(() => null);
        if (stopped) return;
        if (s && TERMINAL.includes(s.status)) { onUpdate(s, stateOf(s)); return; }
      }
      showError(statusEl, e);
    } finally { cancelling = false; }
  }
  function newSale() {
    // A button of the status or the cart had focus: both go, so focus moves to the products,
    // where the next sale starts, instead of falling back to the top of the page.
    const hadFocus = statusEl.contains(document.activeElement) || cartBody.contains(document.activeElement);
    live?.abort.abort();
    cart.clear(); live = null; pending = null; saved.clear(); statusEl.replaceChildren(); drawCart();
    if (hadFocus) products[0]?.focus();
  }

  async function charge() {
    if (busy() || paid()) return;
    // Charge is disabled while the sale is on, which drops keyboard focus to the page: it goes
    // to the sale's status (its Cancel button) instead.
    if (document.activeElement === chargeBtn) focusStatus = true;
    // The sale followed before (ended, or another one) is let go: its follow stops here.
    live?.abort.abort();
    live = null;
    const items = lines();
    const sig = JSON.stringify([deviceSel.value, items]);
    if (pending?.sig !== sig) {
      pending = {
        sig,
        key: newKey(),
        request: {
          device_id: deviceSel.value,
          purchase_currency: CURRENCY,
          order_amount: items.reduce((a, l) => a + l.total_amount, 0),
          order_tax_amount: items.reduce((a, l) => a + l.total_tax_amount, 0),
          merchant_reference1: `POS-${Date.now()}`,
          order_items: items,
        },
      };
    }
    const { request, key } = pending;
    const problems = validateSession(request);
    if (problems.length) {
      statusEl.replaceChildren(h('p', { class: 'err', role: 'alert' }, `This cart cannot be charged: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`));
      return;
    }
    saved.set({ key, sig: pending.sig, request });
    sending = true;
    drawCart();
    showStatus('wait', 'Sending…', 'Sending the amount to the card reader.');
    let session;
    try {
      session = await client.createSession(request, { location_id: me.location_id ?? undefined, idempotencyKey: key });
    } catch (e) {
      sending = false;
      if (stopped) return;
      failed(e, request.device_id);
      return;
    }
    sending = false;
    // Left (or signed out) while the create was on its way: the screen's cleanup has run, so
    // follow nothing with the old sign-in.
    if (stopped) return;
    await follow(session);
  }

  /** A create that failed: what is known, and the way on. */
  function failed(e, deviceId) {
    const box = errorBox(e);
    if (e.code === 'conflict') {
      // The reader is busy with another sale (perhaps this one, sent before the network failed):
      // show it, to follow or cancel it.
      box.append(' ', h('button', { id: 'show-open-sale', onclick: () => reattach(deviceId) }, "Show the reader's open sale"));
    } else if (UNKNOWN_OUTCOME.includes(e.code)) {
      box.append(' It is not known whether the reader got the sale. Press Charge to send it again: the same sale is resent, so it cannot be charged twice.');
    } else if (e.code !== 'unauthorized') {
      // A sign-in that ended mid-create (perhaps after an attempt whose answer was lost) keeps
      // the sale: signing in again brings it back, to resend with the same key.
      pending = null;
      saved.clear();
    }
    const hadFocus = statusEl.contains(document.activeElement);
    statusEl.replaceChildren(box);
    drawCart();
    if (hadFocus) (box.querySelector('button') ?? chargeBtn).focus();
  }

  async function reattach(deviceId) {
    try {
      const s = await client.deviceSession(deviceId);
      if (stopped) return;
      if (!s) {
        statusEl.replaceChildren(h('p', { class: 'muted' }, 'The reader has no open sale any more. Press Charge to try again.'));
        return;
      }
      if ((live && !live.done) || sending) return;
      // This cart's own sale carries its reference (a create whose answer was lost). Any other
      // sale, even for the same amount (another till's), is not followed as this cart's: its
      // "Paid" would be shown for a customer who has not paid.
      if (pending && s.merchant_reference1 === pending.request.merchant_reference1) {
        await follow(s);
        return;
      }
      const total = lines().reduce((a, l) => a + l.total_amount, 0);
      const other = s.order_amount != null ? money(s.order_amount, s.purchase_currency ?? CURRENCY) : 'another amount';
      showStatus('warn', 'Another sale is open', `The reader's open sale (${other}) is not this cart's (${money(total, CURRENCY)}). Cancel it to charge this cart, or follow it until it ends.`,
        h('button', { class: 'danger', id: 'cancel-other', onclick: async () => {
          try { await client.cancelSession(s.session_id); if (!stopped) showStatus('warn', 'Other sale cancelled', 'No money was taken for it. Press Charge to send this cart.'); } catch (e) { if (!stopped) showError(statusEl, e); }
        } }, 'Cancel that sale'),
        h('button', { id: 'follow-other', onclick: () => follow(s, true) }, 'Follow it'));
    } catch (e) {
      if (!stopped) showError(statusEl, e);
    }
  }

  const stateOf = (s) => ({ status: s.status, order_id: s.order_id ?? null, failure_reason: null, failed_attempts: 0 });

  /** Follows a sale on the reader live until it ends (`other`: a sale this cart did not send). */
  async function follow(session, other = false) {
    live?.abort.abort();
    const abort = new AbortController();
    live = { session, abort, done: false, other };
    if (!other) {
      const s0 = saved.get();
      saved.set({ ...(s0 ?? {}), session_id: session.session_id, request: s0?.request ?? null });
    }
    drawCart();
    onUpdate(session, stateOf(session));
    // The status may be stale while the connection is down: say so (the next update replaces it).
    const onError = (e) => {
      if (stopped || abort.signal.aborted || statusEl.querySelector('.reconnecting')) return;
      statusEl.querySelector('.status')?.append(h('p', { class: 'muted reconnecting' },
        `Connection lost (${explain(e)}) Reconnecting… The sale goes on on the reader.`));
    };
    try {
      const done = await client.waitForOutcome(session.session_id, { signal: abort.signal, onUpdate, onError });
      onUpdate(done, stateOf(done));
    } catch (e) {
      if (e.code === 'aborted' || stopped || abort.signal.aborted) return;
      // The follow gave up (the deadline, or a failure retrying cannot mend).
      lostTrack(session.session_id, e, other);
    }
  }

  /** The sale's state could not be read: say why, read it once more on request (following it
   *  again while it is open), and keep the cart locked meanwhile. */
  function lostTrack(sessionId, e, other = false) {
    const check = async () => {
      try {
        const s = await client.getSession(sessionId);
        if (stopped || live?.session.session_id !== sessionId) return;
        if (TERMINAL.includes(s.status)) onUpdate(s, stateOf(s));
        else await follow(s, other);
      } catch (err) { if (!stopped) showError(statusEl, err); }
    };
    statusEl.append(errorBox(e), h('button', { id: 'check-status', onclick: check }, 'Check status'),
      h('button', { class: 'danger', onclick: () => cancel_(sessionId) }, 'Cancel payment'));
  }

  /** A sale left in progress by a reload or an expired sign-in: its cart back, and it followed or resendable. */
  async function resume() {
    const s = saved.get();
    if (!s?.request) return;
    for (const l of s.request.order_items ?? []) {
      const item = CATALOG.find((p) => p.name === l.name);
      if (item) cart.set(item.name, { item, qty: l.quantity });
    }
    if ([...deviceSel.options].some((o) => o.value === s.request.device_id)) deviceSel.value = s.request.device_id;
    if (s.key && s.sig) pending = { sig: s.sig, key: s.key, request: s.request };
    drawCart();
    if (!s.session_id) {
      statusEl.replaceChildren(h('p', { class: 'err', role: 'alert' },
        'This sale was being sent to the reader when the page closed. Press Charge to send it again: the same sale is resent, so it cannot be charged twice.'));
      return;
    }
    try {
      const session = await client.getSession(s.session_id);
      if (stopped) return;
      if (TERMINAL.includes(session.status)) {
        live = { session, abort: new AbortController(), done: false, other: false };
        onUpdate(session, stateOf(session));
      } else await follow(session);
    } catch (e) {
      if (stopped) return;
      // The sale is on the reader but its state could not be read: the cart stays locked (an
      // edit would make it a new sale), and "Check status" follows it once the network is back.
      live = { session: { session_id: s.session_id }, abort: new AbortController(), done: false, other: false };
      drawCart();
      statusEl.replaceChildren();
      lostTrack(s.session_id, e);
    }
  }

  drawCart();
  await loadDevices();
  resume();
  return () => {
    stopped = true;
    live?.abort.abort();
  };
}
