// scripts/lib/wrangler-dev.mjs — `wrangler dev --local` without the DevTools inspector, for
// make dev, the edge tests, the soak and the benchmarks.
//
//   node scripts/lib/wrangler-dev.mjs --config wrangler.toml --ip 127.0.0.1 --port 8787 \
//     [--env-file .dev.vars] [--persist-to DIR] [--var NAME:VALUE]… [--log-level log]
//
// Why: the `wrangler dev` command always attaches wrangler's InspectorProxyWorker to the user
// worker's V8 inspector (Runtime.enable), even when no DevTools window is open. Every console
// line then travels twice: once as workerd's structured log on stdout (which is what wrangler
// prints), and once more as a CDP `Runtime.consoleAPICalled` event serialized by V8, parsed by
// the InspectorProxyWorker in the proxy's workerd, and posted to the wrangler node process as a
// debug-log request, then kept in a buffer that is only drained when DevTools connect. For a
// worker that writes one log line per request (kipp must) that second path cost more CPU than
// the request itself (bench/edge-bench.sh, docs/decisions.md § Edge worker). wrangler's own
// API (`unstable_startWorker`, the same code the command runs) takes `dev.inspector: false`;
// the command has no flag for it. The lines are not lost: they still reach stdout through
// workerd's structured logs, formatted by wrangler exactly as before.
//
// Same worker, same workerd, same proxy, same bindings, persistence and .dev.vars handling as
// the command. What is gone: `wrangler dev`'s DevTools hotkey and breakpoints (use the plain
// command to debug). SIGTERM/SIGINT dispose of the worker (workerd stops) and exit.
const argv = process.argv.slice(2);
const opt = { vars: {}, envFiles: [] };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
  const value = () => inline ?? argv[++i];
  switch (flag) {
    case 'dev': case '--local': break;                                // as `wrangler dev --local`
    case '--config': case '-c': opt.config = value(); break;
    case '--ip': opt.ip = value(); break;
    case '--port': opt.port = Number(value()); break;
    case '--env-file': opt.envFiles.push(value()); break;
    case '--persist-to': opt.persist = value(); break;
    case '--log-level': opt.logLevel = value(); break;
    case '--var': { const v = value(); const c = v.indexOf(':'); if (c < 1) throw new Error(`--var ${v}: expected NAME:VALUE`); opt.vars[v.slice(0, c)] = v.slice(c + 1); break; }
    case '--inspector-port': case '--show-interactive-dev-session': if (inline === undefined && argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) i++; break; // no inspector
    default: console.error(`wrangler-dev.mjs: unknown argument ${a}`); process.exit(2);
  }
}
if (!opt.config || !opt.port) { console.error('wrangler-dev.mjs: --config and --port are required'); process.exit(2); }

// The command's --log-level sets wrangler's logger level; WRANGLER_LOG is the same setting,
// read when wrangler loads (hence the import below, after it is set).
if (opt.logLevel) process.env.WRANGLER_LOG = opt.logLevel;
const { unstable_startWorker } = await import('wrangler');

let worker;
let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  try { await Promise.race([worker?.dispose(), new Promise((r) => setTimeout(r, 5000))]); } finally { process.exit(code); }
}
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
// As the command does: an error it cannot recover from (e.g. its proxy losing the worker's
// workerd under load) ends the process, and whoever started it decides whether to restart it.
process.on('uncaughtException', (e) => { console.error('wrangler-dev.mjs: uncaught', e?.stack ?? e); stop(1); });
process.on('unhandledRejection', (e) => { console.error('wrangler-dev.mjs: unhandled rejection', e?.stack ?? e); stop(1); });

worker = await unstable_startWorker({
  config: opt.config,
  envFiles: opt.envFiles.length ? opt.envFiles : undefined,
  bindings: Object.fromEntries(Object.entries(opt.vars).map(([k, v]) => [k, { type: 'plain_text', value: v }])),
  dev: {
    remote: false,
    server: { hostname: opt.ip ?? '127.0.0.1', port: opt.port },
    inspector: false,
    persist: opt.persist,
    logLevel: opt.logLevel,
    watch: false,
    liveReload: false,
  },
});
const url = await worker.url;
console.log(`[wrangler-dev] Ready on ${url.origin} (wrangler dev --local, inspector off)`);
