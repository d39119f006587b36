// The one place that says which browser the Playwright tests drive and with which flags.
// Playwright (e2e-web) stays on Chromium: its own Firefox build cannot be installed here.
// The wasm-bindgen-test suite (wasm-web) runs in Chromium *and* Firefox ESR: the engines are
// listed in tests/web/stages.sh (WASM_WEB_ENGINES), their capabilities (Chromium flags, Firefox
// prefs that keep it on loopback) in crates/web/webdriver.json.
import { chromium } from 'playwright-core';

// Keep Chromium on loopback: no background traffic, no DNS look-ups (see /work/shared/toolchain.md).
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--disable-domain-reliability',
  '--disable-client-side-phishing-detection', '--disable-default-apps', '--disable-extensions', '--no-first-run',
  '--no-default-browser-check', '--metrics-recording-only', '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
];

export async function launch(name = process.env.KIPP_E2E_BROWSER ?? 'chromium') {
  if (name === 'chromium') {
    return chromium.launch({ executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  }
  throw new Error(`unknown browser ${name}`);
}
