// Loads the POS (app.js and, through it, the kipp-web package at /pkg/). A POS that cannot
// load — the package missing from the deploy, its wasm refused, the network gone — says so and
// what to do, instead of "Loading…" for ever.
import('/app.js').catch((e) => {
  const main = document.getElementById('main');
  const p = document.createElement('p');
  p.className = 'err';
  p.setAttribute('role', 'alert');
  p.textContent = `The POS could not load (${e?.message ?? e}). Check the connection and reload the page; ` +
    'if it keeps happening, the site was deployed without its browser package (/pkg/): rebuild it with scripts/edge-build.sh and deploy again.';
  const reload = document.createElement('button');
  reload.textContent = 'Reload';
  reload.addEventListener('click', () => location.reload());
  main.replaceChildren(p, reload);
  main.focus();
});
