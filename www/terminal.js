// Virtual terminal (playground only): pick a simulated reader, see the session sent to it, tap with any outcome.
import { h, money, errorBox, showError, toast } from '/app.js';

const OUTCOMES = [
  ['SUCCESS', 'Approve (success)'], ['DECLINED_GENERIC', 'Declined'], ['INSUFFICIENT_FUNDS', 'Insufficient funds'],
  ['LOST_CARD', 'Lost card'], ['STOLEN_CARD', 'Stolen card'], ['EXPIRED_CARD', 'Expired card'], ['INCORRECT_CVC', 'Incorrect CVC'],
  ['PROCESSING_ERROR', 'Processing error'], ['INCORRECT_NUMBER', 'Incorrect number'], ['CARD_VELOCITY_EXCEEDED', 'Card velocity exceeded'],
];

export async function render(view, { client, me }) {
  const sel = h('select', { id: 'terminal-device' });
  const box = h('div', { id: 'incoming', 'aria-live': 'polite' });
  let timer = null;
  let stopped = false; // by the cleanup: leaving the screen or signing out
  let shown = '';
  let tapped = null; // the outcome just tapped from its button, to put focus back after the redraw
  view.append(
    h('h1', { id: 'screen-title' }, 'Virtual terminal'),
    h('div', { class: 'card' },
      h('p', { class: 'muted' }, 'Plays the customer at a simulated card reader: the amount the clerk charges shows up here; tap the card with the outcome you want to try.'),
      h('label', { for: 'terminal-device' }, 'Simulated reader'),
      h('div', { class: 'row' }, sel, h('button', { onclick: loadDevices }, 'Reload')),
      box));

  async function loadDevices() {
    try {
      const page = await client.listDevices({ metadata: ['simulated:true'], page_size: 100 });
      const prev = sel.value || localStorage.getItem('kipp.terminal');
      sel.replaceChildren(...page.content.map((d) => h('option', { value: d.id }, d.name ?? d.id)));
      if (prev && page.content.some((d) => d.id === prev)) sel.value = prev;
      if (!page.content.length) {
        box.replaceChildren(h('p', { class: 'muted' }, me.role === 'admin'
          ? 'No simulated reader yet. Create one under Admin → “Enroll simulated reader”.'
          : 'No simulated reader yet. Ask an admin to create one (Admin → “Enroll simulated reader”).'));
      }
      shown = '';
      await poll();
    } catch (e) { box.replaceChildren(errorBox(e)); }
  }
  sel.addEventListener('change', () => { localStorage.setItem('kipp.terminal', sel.value); shown = ''; poll(); });

  async function poll() {
    clearTimeout(timer);
    if (stopped || !sel.value) return;
    const asked = sel.value;
    try {
      const s = await client.deviceSession(asked);
      // Stopped, or another reader picked meanwhile (whose own poll draws it): an answer about
      // the old reader must not be drawn, or its buttons would tap the old reader's session.
      if (stopped || asked !== sel.value) return;
      const key = s ? `${s.session_id}:${s.status}` : 'none';
      if (key !== shown) { shown = key; draw(s); }
    } catch (e) {
      if (stopped || asked !== sel.value) return;
      // Drawn once while the same failure lasts: the alert is read out each time it is drawn, and
      // an outage fails the poll every second.
      // Not by its text: that names each answer's request id, new at every poll.
      const failed = `failed:${e.code}:${e.status}:${e.reason}`;
      if (failed !== shown) {
        box.replaceChildren(errorBox(e));
        shown = failed;
      }
      // A sign-in that is no longer valid will not become valid by asking again.
      if (e.code === 'unauthorized') return;
    }
    // Polls can overlap (a reader picked, a tap): one timer stays, so the cleanup can stop it.
    clearTimeout(timer);
    timer = setTimeout(poll, 1000);
  }

  function draw(s) {
    // A tap disables its button, which drops keyboard focus to the page: after the redraw it goes
    // back to the same outcome or, once the sale is over, to the new status.
    const refocus = tapped;
    tapped = null;
    if (!s) box.replaceChildren(h('div', { class: 'status', 'data-state': 'idle', tabindex: '-1' }, h('strong', {}, 'Waiting for a payment'), h('p', { class: 'muted' }, 'Charge a cart in Checkout on this reader.')));
    else drawSession(s);
    if (refocus) (box.querySelector(`[data-outcome="${refocus}"]`) ?? box.querySelector('.status'))?.focus();
  }

  function drawSession(s) {
    const buttons = OUTCOMES.map(([o, label]) => h('button', { class: o === 'SUCCESS' ? 'success' : '', 'data-outcome': o, onclick: async (ev) => {
      const button = ev.target;
      if (document.activeElement === button) tapped = o;
      button.disabled = true;
      try { const r = await client.simulateTap(s.session_id, o); toast(`Tapped: ${label} → ${r.status}`); shown = ''; await poll(); } catch (e) { showError(box, e); } finally {
        button.disabled = false;
        // Not redrawn (a failed tap): focus goes back to this button.
        if (tapped === o) { tapped = null; if (button.isConnected) button.focus(); }
      }
    } }, label));
    box.replaceChildren(h('div', { class: 'status wait', 'data-state': 'incoming', 'data-session': s.session_id, tabindex: '-1' },
      h('strong', {}, `Pay ${s.order_amount != null ? money(s.order_amount, s.purchase_currency ?? 'SEK') : ''}`),
      // Names come from whoever made the sale: each is isolated (<bdi>), so that right-to-left
      // text or a stray direction mark in one cannot reorder the rest of the line.
      h('p', { class: 'muted' }, ...(s.order_items ?? []).flatMap((i, n) => [n ? ', ' : '', `${i.quantity ?? 1}× `, h('bdi', {}, i.name)]), ` · session ${s.status}`),
      h('div', { class: 'outcomes' }, buttons)));
  }

  await loadDevices();
  return () => { stopped = true; clearTimeout(timer); };
}
