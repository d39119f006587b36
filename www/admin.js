// Admin: locations, enrollment codes, devices (rename / move / delete, simulated readers), clerk tokens.
import { h, errorBox, fill, oneAtATime, showError, toast } from '/app.js';

/**
 * Sign-ins issued from this browser, kept so that one can be revoked later (a lost or stolen
 * device): `{ jti, role, location, expires_at, revoked }` each, never the token itself.
 */
const ISSUED_KEY = 'kipp.issued';
const issued = {
  list() {
    try {
      const now = Date.now() / 1000;
      return (JSON.parse(localStorage.getItem(ISSUED_KEY) ?? '[]') ?? []).filter((t) => t && t.expires_at > now);
    } catch { return []; }
  },
  save(list) { try { localStorage.setItem(ISSUED_KEY, JSON.stringify(list.slice(-50))); } catch { /* storage off: not kept */ } },
};

export async function render(view, { client, me }) {
  let countdown; // the enrollment code's countdown timer
  let codeWatch; // polls the code shown until a reader uses it (or it expires)
  const locBox = h('div');
  const enrBox = h('div');
  const devBox = h('div');
  const tokBox = h('div');
  let locations = [];

  view.append(
    h('h1', { id: 'screen-title' }, 'Admin'),
    h('div', { class: 'grid' },
      h('div', { class: 'card', id: 'locations' }, h('h2', {}, 'Locations'), locBox),
      h('div', { class: 'card', id: 'enrollments' }, h('h2', {}, 'Enroll a card reader'), enrBox),
      h('div', { class: 'card', id: 'tokens' }, h('h2', {}, 'Clerk sign-in'), tokBox),
      h('div', { class: 'card', id: 'devices', style: 'grid-column: 1 / -1' }, h('h2', {}, 'Devices'), devBox)));

  const locationSelect = (id, selected, allowAll) => h('select', { id, name: id },
    allowAll ? h('option', { value: '' }, 'All locations') : null,
    ...locations.map((l) => h('option', { value: l.id, selected: l.id === selected }, l.name ?? l.id)));
  const locName = (id) => locations.find((l) => l.id === id)?.name ?? '—';
  // A device's own location, also when it has none or one not among those listed (the first
  // 100): the select shows what the device has, and Save sends it back unchanged (Kustom's PUT
  // replaces the whole device), instead of the first store of the list.
  const deviceLocationSelect = (id, current) => {
    const sel = locationSelect(id, current);
    if (!locations.some((l) => l.id === current)) {
      sel.prepend(h('option', { value: current ?? '' }, current ? 'A location not listed here' : 'No location'));
      sel.value = current ?? '';
    }
    return sel;
  };

  async function loadLocations() {
    try {
      locations = (await client.listLocations({ page_size: 100 })).content;
    } catch (e) {
      locBox.replaceChildren(errorBox(e));
      return;
    }
    const name = h('input', { id: 'new-location', placeholder: 'e.g. Götgatan store', required: true });
    locBox.replaceChildren(
      h('ul', {}, ...locations.map((l) => h('li', {}, h('strong', {}, l.name ?? '(unnamed)'), ' ', h('span', { class: 'muted' }, [l.city, l.country].filter(Boolean).join(', '))))),
      h('form', { class: 'row', onsubmit: oneAtATime(async (ev) => {
        ev.preventDefault();
        try { await client.createLocation({ name: name.value.trim() }); toast('Location added'); await loadLocations(); addLocationOptions(); } catch (e) { showError(locBox, e); }
      }) }, h('label', { for: 'new-location', class: 'sr' }, 'New location'), name, h('button', { type: 'submit' }, 'Add location')));
  }

  // A new location joins the selects on screen: redrawing the forms would wipe a code or a
  // sign-in link shown there (the link cannot be shown again).
  function addLocationOptions() {
    for (const sel of view.querySelectorAll('#enroll-location, #sim-location, #token-location, #devices select')) {
      const have = new Set([...sel.options].map((o) => o.value));
      for (const l of locations) if (!have.has(l.id)) sel.append(h('option', { value: l.id }, l.name ?? l.id));
    }
  }

  function drawEnrollForm() {
    const loc = locationSelect('enroll-location', me.location_id ?? locations[0]?.id);
    const ttl = h('select', { id: 'enroll-ttl' }, h('option', { value: 'TWO_HOURS' }, '2 hours'), h('option', { value: 'TWENTY_FOUR_HOURS' }, '24 hours'), h('option', { value: 'FORTY_EIGHT_HOURS' }, '48 hours'), h('option', { value: 'SEVENTY_TWO_HOURS' }, '72 hours'));
    const out = h('div', { 'aria-live': 'polite' });
    const simName = h('input', { id: 'sim-name', value: 'Virtual reader 1' });
    const simLoc = locationSelect('sim-location', me.location_id ?? locations[0]?.id);
    fill(enrBox,
      h('p', { class: 'muted' }, 'Create a code, then type it on the reader (Kustom POS app → Enroll).'),
      h('label', { for: 'enroll-location' }, 'Location'), loc,
      h('label', { for: 'enroll-ttl' }, 'Valid for'), ttl,
      h('div', { class: 'row', style: 'margin-top:.6rem' }, h('button', { class: 'primary', id: 'create-enrollment', onclick: oneAtATime(async () => {
        try {
          const e = await client.createEnrollment({ location_id: loc.value || undefined, ttl: ttl.value });
          showCode(out, e);
          await loadEnrollments(out);
        } catch (err) { out.replaceChildren(errorBox(err)); }
      }) }, 'Create enrollment code')),
      out,
      me.playground ? h('div', { style: 'margin-top:1rem;border-top:1px solid var(--line);padding-top:.6rem' },
        h('h2', {}, 'No reader at hand? (playground)'),
        h('label', { for: 'sim-name' }, 'Simulated reader name'), simName,
        h('label', { for: 'sim-location' }, 'Location'), simLoc,
        h('div', { class: 'row', style: 'margin-top:.6rem' }, h('button', { id: 'create-simulated', onclick: oneAtATime(async () => {
          try {
            const d = await client.createSimulatedDevice(simName.value.trim(), { location_id: simLoc.value || undefined });
            toast(`Simulated reader “${d.name ?? d.id}” enrolled`);
            await loadDevices();
          } catch (err) { showError(enrBox, err); }
        }) }, 'Enroll simulated reader'))) : null);
  }

  function showCode(out, e) {
    // role=timer: a live region that is not announced (aria-live off), inside the form's
    // polite one, so a screen reader does not read the countdown out every second.
    const left = h('span', { class: 'countdown', role: 'timer' });
    const tick = () => {
      const ms = Date.parse(e.expires_at) - Date.now();
      if (ms <= 0) { left.textContent = 'expired — create a new code'; return; }
      const s = Math.floor(ms / 1000);
      left.textContent = `expires in ${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, '0')}m ${String(s % 60).padStart(2, '0')}s`;
    };
    tick();
    // One countdown at a time: a new code (or a redrawn form) replaces the one shown.
    clearInterval(countdown);
    countdown = setInterval(tick, 1000);
    const box = h('div', { class: 'status wait', id: 'enrollment-code' },
      h('span', { class: 'muted' }, 'Enrollment code'),
      // Read out character by character (a code is not a word); the visual code is not read twice.
      h('span', { class: 'sr' }, [...e.enrollment_code].join(' ')),
      h('div', { class: 'code', 'aria-hidden': 'true' }, e.enrollment_code), left);
    out.replaceChildren(box);
    watchCode(box, e);
  }

  // A code is used once: when a reader has enrolled with it, the code gives way to that news and
  // the device list shows the reader, so that nobody types a spent code or reloads to find the
  // reader. Kustom has no "get enrollment": the list (consumed ones included) is read every few
  // seconds while the code is on screen and the page is visible.
  function watchCode(box, e) {
    clearInterval(codeWatch);
    let busy = false;
    const check = async () => {
      if (!box.isConnected || Date.now() > Date.parse(e.expires_at)) { clearInterval(codeWatch); return; }
      if (document.hidden || busy) return;
      busy = true;
      let now;
      try {
        const mine = (x) => x.enrollment_id === e.enrollment_id;
        now = (await allEnrollments({ location_id: e.location_id ?? undefined, include_consumed: true }, mine)).find(mine);
      } catch { return; } finally { busy = false; } // a failed read is tried again at the next tick
      if (!box.isConnected || !now || now.status === 'PENDING') return;
      clearInterval(codeWatch);
      if (now.status !== 'CONSUMED') return; // expired: the countdown says so
      clearInterval(countdown);
      box.className = 'status ok';
      box.replaceChildren(h('strong', {}, 'Reader enrolled'), h('span', { class: 'muted' }, ` with code ${e.enrollment_code}, now used. It is listed under Devices.`));
      toast('A reader enrolled with the code');
      await loadDevices();
    };
    codeWatch = setInterval(check, 3000);
  }

  /**
   * The enrollments `filter` selects, page after page until the last or one that `enough` is
   * true of: Kustom lists them oldest first and keeps expired ones, so a new code is on a later
   * page once there are many (at most 20 pages of 100 are read).
   */
  async function allEnrollments(filter, enough = () => false) {
    const all = [];
    for (let page_number = 0; page_number < 20; page_number++) {
      const page = await client.listEnrollments({ ...filter, page_size: 100, page_number });
      all.push(...page.content);
      if (page.last || !page.content.length || page.content.some(enough)) break;
    }
    return all;
  }

  async function loadEnrollments(out) {
    try {
      const pending = (await allEnrollments({ include_consumed: false })).filter((e) => e.status === 'PENDING');
      if (!pending.length) return;
      const summary = h('summary', {}, `${pending.length} pending code(s)`);
      const list = h('ul', {});
      const details = h('details', {}, summary, list);
      // A withdrawn code leaves the list (and the screen, if it is the one shown); the rest of
      // the form stays, a code just created included.
      const withdraw = async (e, li) => {
        try {
          await client.deleteEnrollment(e.enrollment_id);
          toast('Code withdrawn');
          li.remove();
          if (list.children.length) summary.textContent = `${list.children.length} pending code(s)`; else details.remove();
          const shown = enrBox.querySelector('#enrollment-code');
          if (shown?.querySelector('.code')?.textContent === e.enrollment_code) { clearInterval(countdown); clearInterval(codeWatch); shown.remove(); }
        } catch (err) { showError(out, err); }
      };
      list.append(...pending.map((e) => {
        const li = h('li', {}, h('span', { class: 'mono' }, e.enrollment_code), ` · ${locName(e.location_id)} · until ${new Date(e.expires_at).toLocaleString()} `);
        li.append(h('button', { class: 'danger', onclick: () => withdraw(e, li) }, 'Withdraw'));
        return li;
      }));
      out.append(details);
    } catch (err) { showError(out, err); }
  }

  async function loadDevices() {
    let devices;
    try {
      devices = (await client.listDevices({ page_size: 100 })).content;
    } catch (e) { devBox.replaceChildren(errorBox(e)); return; }
    if (!devices.length) { devBox.replaceChildren(h('p', { class: 'muted' }, 'No devices yet. Enroll a reader above.')); return; }
    devBox.replaceChildren(h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Location'), h('th', {}, 'Type'), h('th', {}, ''))),
      h('tbody', {}, ...devices.map((d) => {
        const name = h('input', { value: d.name ?? '', 'aria-label': `Name of ${d.name ?? d.id}` });
        const loc = deviceLocationSelect(`loc-${d.id}`, d.location_id);
        loc.setAttribute('aria-label', `Location of ${d.name ?? d.id}`);
        // A device's errors show on its own row.
        const actions = h('td', {});
        actions.append(h('div', { class: 'row' },
          h('button', { onclick: async () => {
            // Kustom's PUT replaces the whole device: its metadata (the reader's till number,
            // the playground's `simulated` mark) is sent back as it is, or it would be wiped.
            try {
              await client.updateDevice(d.id, { name: name.value.trim(), location_id: loc.value || undefined, metadata: d.metadata ?? undefined });
              toast('Device saved');
              for (const old of actions.querySelectorAll('.err')) old.remove();
            } catch (e) { showError(actions, e); }
          } }, 'Save'),
          h('button', { class: 'danger', onclick: async () => {
            if (!confirm(`Remove ${d.name ?? d.id}? It must be enrolled again to take payments.`)) return;
            try { await client.deleteDevice(d.id); toast('Device removed'); await loadDevices(); } catch (e) { showError(actions, e); }
          } }, 'Delete')));
        return h('tr', { 'data-device': d.id },
          h('td', {}, name),
          h('td', {}, loc),
          h('td', {}, d.metadata?.simulated === 'true' ? 'simulated' : (d.platform ?? '')),
          actions);
      }))));
  }

  function drawTokens() {
    const loc = locationSelect('token-location', me.location_id, true);
    const role = h('select', { id: 'token-role' }, h('option', { value: 'clerk' }, 'Clerk'), h('option', { value: 'admin' }, 'Admin'));
    const hours = h('input', { id: 'token-hours', type: 'number', min: 1, max: 744, value: 12 });
    const out = h('div', { 'aria-live': 'polite' });
    tokBox.replaceChildren(
      h('label', { for: 'token-role' }, 'Role'), role,
      h('label', { for: 'token-location' }, 'Location'), loc,
      h('label', { for: 'token-hours' }, 'Valid for (hours)'), hours,
      h('div', { class: 'row', style: 'margin-top:.6rem' }, h('button', { class: 'primary', id: 'issue-token', onclick: oneAtATime(async () => {
        const h_ = Number(hours.value);
        if (!(h_ >= 1 && h_ <= 744)) {
          out.replaceChildren(h('p', { class: 'err', role: 'alert' }, 'Valid for: give a number of hours from 1 to 744 (31 days).'));
          return;
        }
        try {
          const asked = Math.round(h_ * 3600);
          const t = await client.issueToken({ role: role.value, location_id: loc.value || undefined, ttl_seconds: asked });
          const link = `${location.origin}/#token=${encodeURIComponent(t.token)}`;
          // A token never outlives the admin's own: say so when the worker shortened it.
          const shortened = t.expires_at < Math.floor(Date.now() / 1000) + asked - 60;
          out.replaceChildren(h('div', { class: 'status ok' },
            h('strong', {}, 'Token issued'),
            h('p', {}, `Valid until ${new Date(t.expires_at * 1000).toLocaleString()}${shortened ? ' — shortened to the end of your own sign-in, which it cannot outlive' : ''}. Open this link on the clerk's device:`),
            h('p', { class: 'mono', id: 'token-link' }, link),
            h('button', { onclick: () => navigator.clipboard?.writeText(link).then(() => toast('Link copied')) }, 'Copy link')));
          issued.save([...issued.list(), { jti: t.jti, role: role.value, location: loc.value ? locName(loc.value) : 'all locations', expires_at: t.expires_at }]);
          drawIssued();
        } catch (e) { out.replaceChildren(errorBox(e)); }
      }) }, 'Issue token')),
      out,
      issuedBox);
    drawIssued();
  }

  // Sign-ins issued from this browser, each revocable (a device lost or stolen).
  const issuedBox = h('div', { id: 'issued' });
  function drawIssued() {
    const list = issued.list();
    if (!list.length) { issuedBox.replaceChildren(); return; }
    fill(issuedBox, h('h3', {}, 'Sign-ins issued here'),
      me.location_id ? h('p', { class: 'muted' }, 'Revoking needs an admin sign-in for all locations.') : null,
      h('ul', {}, ...list.map((t) => h('li', {},
        `${t.role} · ${t.location} · until ${new Date(t.expires_at * 1000).toLocaleString()} `,
        t.revoked ? h('span', { class: 'muted' }, 'revoked')
          : me.location_id ? null
            : h('button', { class: 'danger', 'data-jti': t.jti, 'aria-label': `Revoke the ${t.role} sign-in valid until ${new Date(t.expires_at * 1000).toLocaleString()}`, onclick: async () => {
              if (!confirm('Revoke this sign-in? The device using it is signed out, and so is any token issued with it.')) return;
              try {
                await client.revokeToken(t.jti);
                issued.save(issued.list().map((x) => (x.jti === t.jti ? { ...x, revoked: true } : x)));
                toast('Sign-in revoked');
                drawIssued();
              } catch (e) { showError(issuedBox, e); }
            } }, 'Revoke')))));
  }

  async function refresh() {
    await loadLocations();
    drawEnrollForm();
    drawTokens();
    await loadDevices();
  }
  await refresh();
  return () => { clearInterval(countdown); clearInterval(codeWatch); };
}
