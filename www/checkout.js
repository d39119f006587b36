// Checkout: build a cart, pick a device of the clerk's location, charge, follow the payment live.
import { validateSession } from '/pkg/kipp_web.js';
import { h, money, errorBox, explain } from '/app.js';

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

const REASONS = {
  insufficient_funds: 'insufficient funds', declined_generic: 'declined by the bank', lost_card: 'card reported lost',
  stolen_card: 'card reported stolen', expired_card: 'card expired', incorrect_cvc: 'wrong CVC', processing_error: 'processing error',
  incorrect_number: 'wrong card number', card_velocity_exceeded: 'card limit reached',
};

export async function render(view, { client, me }) {
  const cart = new Map(); // name -> { item, qty }
  let stopped = false; // by the cleanup: leaving the screen or signing out
  let live = null; // { session, abort }
  const cartBody = h('tbody');
  const totalEl = h('p', { class: 'total', 'aria-live': 'polite' });
  const deviceSel = h('select', { id: 'device', name: 'device' });
  const chargeBtn = h('button', { class: 'primary', id: 'charge', onclick: charge }, 'Charge');
  const statusEl = h('div', { id: 'status', 'aria-live': 'polite' });
  const deviceMsg = h('div');

  const products = CATALOG.map((p) => h('button', { onclick: () => add(p), 'data-product': p.name },
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
  function add(item, delta = 1) {
    const cur = cart.get(item.name) ?? { item, qty: 0 };
    cur.qty += delta;
    if (cur.qty <= 0) cart.delete(item.name); else cart.set(item.name, cur);
    drawCart();
  }
  function drawCart() {
    const ls = lines();
    cartBody.replaceChildren(...ls.map((l) => h('tr', {},
      h('td', {}, l.name),
      h('td', { class: 'num' },
        h('button', { onclick: () => add(cart.get(l.name).item, -1), 'aria-label': `One less ${l.name}` }, '−'), ' ', l.quantity, ' ',
        h('button', { onclick: () => add(cart.get(l.name).item, 1), 'aria-label': `One more ${l.name}` }, '+')),
      h('td', { class: 'num' }, money(l.total_amount, CURRENCY)),
      h('td', {}, h('button', { class: 'danger', onclick: () => { cart.delete(l.name); drawCart(); }, 'aria-label': `Remove ${l.name}` }, '×')))));
    if (!ls.length) cartBody.append(h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'Tap a product to add it.')));
    const sum = ls.reduce((a, l) => a + l.total_amount, 0);
    totalEl.textContent = `Total ${money(sum, CURRENCY)}`;
    chargeBtn.disabled = !ls.length || !deviceSel.value || !!live;
  }

  async function loadDevices() {
    deviceMsg.replaceChildren();
    try {
      const page = await client.listDevices({ location_id: me.location_id ?? undefined, page_size: 100 });
      const prev = deviceSel.value || localStorage.getItem('kipp.device');
      deviceSel.replaceChildren(...page.content.map((d) => h('option', { value: d.id }, d.name ?? d.id)));
      if (prev && page.content.some((d) => d.id === prev)) deviceSel.value = prev;
      if (!page.content.length) deviceMsg.append(h('p', { class: 'muted' }, 'No card reader at this location yet. An admin can add one under Admin → Devices.'));
    } catch (e) {
      deviceMsg.append(errorBox(e));
    }
    drawCart();
  }
  deviceSel.addEventListener('change', () => { localStorage.setItem('kipp.device', deviceSel.value); drawCart(); });

  function showStatus(kind, title, detail, ...actions) {
    statusEl.replaceChildren(h('div', { class: `status ${kind}`, 'data-state': title.toLowerCase() },
      h('strong', {}, title), detail ? h('p', {}, detail) : null, actions.length ? h('div', { class: 'row' }, actions) : null));
  }

  function onUpdate(session, st) {
    const cancel = h('button', { class: 'danger', id: 'cancel', onclick: () => cancel_(session.session_id) }, 'Cancel payment');
    if (st.status === 'CREATED') showStatus('wait', 'Sent to device', 'Waiting for the customer to tap, insert or swipe a card.', cancel);
    else if (st.status === 'ACTIVE' && st.failure_reason) {
      const why = REASONS[st.failure_reason] ?? st.failure_reason.replaceAll('_', ' ');
      showStatus('bad', 'Declined', `Reason: ${why}. Ask the customer to try again (tap the card again or use another card) — the reader is still waiting.`, cancel);
    } else if (st.status === 'ACTIVE') showStatus('wait', 'In progress', 'The customer is paying on the reader.', cancel);
    else if (st.status === 'FINALIZED') showStatus('ok', 'Paid', `Order ${session.order_id ?? st.order_id}`, h('button', { class: 'primary', onclick: newSale }, 'New sale'));
    else if (st.status === 'CANCELLED') showStatus('warn', 'Cancelled', 'No money was taken.', h('button', { class: 'primary', onclick: retry }, 'Charge again'), h('button', { onclick: newSale }, 'New sale'));
    else if (st.status === 'EXPIRED') showStatus('warn', 'Expired', 'The customer did not pay in time. No money was taken.', h('button', { class: 'primary', onclick: retry }, 'Charge again'));
    else if (st.status === 'FAILED') showStatus('bad', 'Failed', 'The payment failed. No money was taken.', h('button', { class: 'primary', onclick: retry }, 'Charge again'));
  }

  async function cancel_(id) {
    try { await client.cancelSession(id); } catch (e) { statusEl.append(errorBox(e)); }
  }
  function newSale() { cart.clear(); live = null; statusEl.replaceChildren(); drawCart(); }
  function retry() { live = null; charge(); }

  async function charge() {
    const items = lines();
    const request = {
      device_id: deviceSel.value,
      purchase_currency: CURRENCY,
      order_amount: items.reduce((a, l) => a + l.total_amount, 0),
      order_tax_amount: items.reduce((a, l) => a + l.total_tax_amount, 0),
      merchant_reference1: `POS-${Date.now()}`,
      order_items: items,
    };
    const problems = validateSession(request);
    if (problems.length) {
      statusEl.replaceChildren(h('p', { class: 'err', role: 'alert' }, `This cart cannot be charged: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`));
      return;
    }
    chargeBtn.disabled = true;
    showStatus('wait', 'Sending…', 'Sending the amount to the card reader.');
    let session;
    try {
      session = await client.createSession(request, { location_id: me.location_id ?? undefined });
    } catch (e) {
      if (stopped) return;
      statusEl.replaceChildren(h('p', { class: 'err', role: 'alert' }, explain(e)));
      live = null;
      drawCart();
      return errorBox(e) && undefined;
    }
    // Left (or signed out) while the create was on its way: the screen's cleanup has run, so
    // follow nothing with the old sign-in.
    if (stopped) return;
    const abort = new AbortController();
    live = { session, abort };
    onUpdate(session, { status: session.status, order_id: null, failure_reason: null, failed_attempts: 0 });
    try {
      const done = await client.waitForOutcome(session.session_id, { signal: abort.signal, onUpdate });
      onUpdate(done, { status: done.status, order_id: done.order_id ?? null, failure_reason: null, failed_attempts: 0 });
    } catch (e) {
      if (e.code !== 'aborted') statusEl.append(errorBox(e), h('button', { onclick: () => client.getSession(session.session_id).then((s) => onUpdate(s, { status: s.status, order_id: s.order_id ?? null, failure_reason: null, failed_attempts: 0 })) }, 'Check status'));
    }
  }

  drawCart();
  await loadDevices();
  return () => {
    stopped = true;
    live?.abort.abort();
  };
}
