#!/usr/bin/env node
// Benchmark (not a test): time from a shopper's Join to the first decoded video frame, against the
// release build on loopback. Run it with `make bench-join`; JOINS=40 make bench-join for more joins.
//
// What it does:
//   1. starts target/release/onair on 127.0.0.1:3200 (database from $DATABASE_URL, which the Makefile
//      recreates with `scripts/ensure-db.sh --fresh onair_bench`) and waits for /healthz;
//   2. in Debian's Chromium (same launch args as end2end/playwright.config.ts) signs up a seller, who
//      goes live from /live/new with the fake camera, and a shopper;
//   3. the shopper joins the stream JOINS times (default 25, after 2 warm-up joins that are not
//      counted): each Join is a full page load of /live/<id>. An init script, registered before the
//      page's own scripts, times from the navigation's start (performance.timeOrigin, i.e.
//      performance.now() = 0) to the first requestVideoFrameCallback on video[data-testid=remote-video]
//      and to [data-testid=player][data-status=connected]. Between joins the shopper goes to
//      about:blank (closing its peer connection and WebSocket) and waits 300 ms;
//   4. prints a table and replaces the "## Join to first frame" section of docs/benchmarks.md (the
//      rest of the file is kept; the machine header at the top is refreshed).
// The server is stopped at the end, on errors and on Ctrl-C too.
//
// Environment: JOINS (default 25; fewer than 20 prints the table but does not write the doc),
// DATABASE_URL (else scripts/ensure-db.sh --fresh onair_bench is called), BENCH_PORT (default 3200).

import { chromium } from '@playwright/test';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const serverBinary = path.join(repoRoot, 'target', 'release', 'onair');
const siteRoot = path.join(repoRoot, 'target', 'site');
const docPath = path.join(repoRoot, 'docs', 'benchmarks.md');

const PORT = Number(process.env.BENCH_PORT ?? 3200);
const BASE = `http://127.0.0.1:${PORT}`;
const JOINS = Number(process.env.JOINS ?? 25);
const WARMUP = 2;
const MIN_JOINS_FOR_DOC = 20;
const PAUSE_BETWEEN_JOINS_MS = 300;
const FIRST_FRAME_TIMEOUT_MS = 20_000;
const CONNECTED_GRACE_MS = 5_000;
const TARGET_P50_MS = 300;
const PASSWORD = 'bench-password-123';
const SECTION_TITLE = '## Join to first frame';

// Same as end2end/playwright.config.ts (launchOptions.args); keep the two in step.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  '--allow-loopback-in-peer-connection',
];

const log = (...args) => console.error('[bench]', ...args);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------
// The server

let server = null;

function databaseUrl() {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  log('DATABASE_URL is not set: asking scripts/ensure-db.sh for a fresh database onair_bench');
  const out = execFileSync(path.join(repoRoot, 'scripts', 'ensure-db.sh'), ['--fresh', 'onair_bench'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.trim().split('\n').pop();
}

async function healthy() {
  try {
    const res = await fetch(`${BASE}/healthz`, { signal: AbortSignal.timeout(1_000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** Whether a .wasm file has a "name" custom section: debug builds do, release builds (wasm-opt) do not. */
function wasmHasNameSection(file) {
  const b = readFileSync(file);
  let i = 8; // magic and version
  const leb = () => {
    let result = 0;
    let shift = 0;
    let byte;
    do {
      byte = b[i++];
      result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return result;
  };
  while (i < b.length) {
    const id = b[i++];
    const size = leb();
    const end = i + size;
    if (id === 0) {
      const len = leb();
      if (b.subarray(i, i + len).toString() === 'name') return true;
    }
    i = end;
  }
  return false;
}

async function startServer() {
  if (!existsSync(serverBinary) || !existsSync(path.join(siteRoot, 'pkg'))) {
    throw new Error('target/release/onair or target/site/pkg is missing: run `make test` or `cargo leptos build --release` first');
  }
  for (const file of ['onair.js', 'onair.wasm']) {
    if (!existsSync(path.join(siteRoot, 'pkg', file))) {
      throw new Error(`target/site/pkg/${file} is missing (a build still running, or one that failed?): run \`cargo leptos build --release\` first`);
    }
  }
  if (wasmHasNameSection(path.join(siteRoot, 'pkg', 'onair.wasm'))) {
    throw new Error(
      'target/site/pkg/onair.wasm is a debug build (it has a "name" section; `cargo leptos build` without --release ' +
        'writes there too): run `cargo leptos build --release` first',
    );
  }
  if (await healthy()) {
    throw new Error(`something already answers on ${BASE}/healthz: stop it (or set BENCH_PORT) so the benchmark measures its own server`);
  }
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl(),
    ONAIR_SITE_ROOT: 'target/site',
    ONAIR_ALLOWED_ORIGINS: `${BASE},http://localhost:${PORT}`,
    RUST_LOG: 'warn',
  };
  log(`starting ${path.relative(repoRoot, serverBinary)} --bind 127.0.0.1:${PORT}`);
  server = spawn(serverBinary, ['--bind', `127.0.0.1:${PORT}`], { cwd: repoRoot, env, stdio: ['ignore', 'inherit', 'inherit'] });
  let exited = null;
  server.once('exit', (code, signal) => {
    exited = { code, signal };
  });
  const deadline = Date.now() + 120_000; // the first start runs the migrations
  while (Date.now() < deadline) {
    if (exited) throw new Error(`the server exited before answering /healthz (code ${exited.code}, signal ${exited.signal})`);
    if (await healthy()) return;
    await sleep(200);
  }
  throw new Error(`the server did not answer ${BASE}/healthz within 120 s`);
}

async function stopServer() {
  const child = server;
  server = null;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await gone;
  clearTimeout(timer);
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`${signal}: stopping the server`);
    if (server) server.kill('SIGTERM');
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------------------------------
// The browser side

async function waitHydrated(page) {
  try {
    await page.locator('body[data-hydrated="true"]').waitFor({ state: 'attached', timeout: 15_000 });
  } catch {
    const problems = pageProblems.get(page) ?? [];
    throw new Error(
      `${page.url()} did not hydrate within 15 s: is target/site from the same \`cargo leptos build --release\` as ` +
        `target/release/onair?${problems.length ? `\n  the page said:\n  ${problems.slice(0, 5).join('\n  ')}` : ''}`,
    );
  }
}

/** Failed requests and errors per page, for the message when a page does not hydrate. */
const pageProblems = new WeakMap();
function collectProblems(page) {
  const list = [];
  pageProblems.set(page, list);
  page.on('pageerror', (e) => list.push(`error: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) list.push(`${r.status()} ${r.url()}`);
  });
}

async function gotoHydrated(page, url) {
  await page.goto(`${BASE}${url}`);
  await waitHydrated(page);
}

let nameCounter = 0;
function uniqueName(prefix) {
  nameCounter += 1;
  return `${prefix}_${Date.now().toString(36)}${nameCounter}`.slice(0, 32);
}

async function signUp(browser, prefix, displayName) {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const page = await context.newPage();
  collectProblems(page);
  await gotoHydrated(page, '/signup');
  await page.locator('input[name="username"]').fill(uniqueName(prefix));
  await page.locator('input[name="display_name"]').fill(displayName);
  await page.locator('input[name="password"]').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign up', exact: true }).click();
  await page.waitForURL((url) => url.pathname === '/', { timeout: 15_000 });
  return page;
}

/** The seller goes live; returns the stream's path /live/<uuid>. */
async function goLive(seller) {
  await gotoHydrated(seller, '/live/new');
  await seller.getByLabel('Title').fill(`Benchmark stream ${new Date().toISOString()}`);
  // The category list loads after hydration; the form needs one selected.
  await seller.locator('select[name="category"] option').first().waitFor({ state: 'attached', timeout: 15_000 });
  const button = seller.getByRole('button', { name: 'Go Live', exact: true });
  const deadline = Date.now() + 15_000;
  while (!(await button.isEnabled())) {
    if (Date.now() > deadline) throw new Error('"Go Live" stayed disabled for 15 s (no camera preview?)');
    await sleep(100);
  }
  await button.click();
  await seller.waitForURL(/\/live\/[0-9a-f-]{36}$/, { timeout: 15_000 });
  return new URL(seller.url()).pathname;
}

/**
 * Runs in the shopper's page before its own scripts, on every navigation. On /live/<id> it records,
 * in ms since the navigation started (performance.now() is 0 at performance.timeOrigin):
 * __firstFrameMs (first requestVideoFrameCallback on the remote video), __connectedMs (the player says
 * connected) and __hydratedMs (the app set body[data-hydrated]). The video element is server-rendered;
 * a MutationObserver on the whole document catches it (and any replacement of it) the moment it is
 * inserted, so no early frame is missed.
 */
function instrumentJoin() {
  if (!location.pathname.startsWith('/live/')) return;
  const w = window;
  w.__firstFrameMs = null;
  w.__firstFrameSize = null;
  w.__connectedMs = null;
  w.__hydratedMs = null;
  const watched = new WeakSet();
  const check = () => {
    if (w.__firstFrameMs === null) {
      for (const video of document.querySelectorAll('video[data-testid="remote-video"]')) {
        if (watched.has(video)) continue;
        watched.add(video);
        video.requestVideoFrameCallback((_now, meta) => {
          if (w.__firstFrameMs !== null) return;
          w.__firstFrameMs = performance.now();
          w.__firstFrameSize = `${meta.width}x${meta.height}`;
        });
      }
    }
    if (w.__connectedMs === null && document.querySelector('[data-testid="player"][data-status="connected"]')) {
      w.__connectedMs = performance.now();
    }
    if (w.__hydratedMs === null && document.body && document.body.getAttribute('data-hydrated') === 'true') {
      w.__hydratedMs = performance.now();
    }
    if (w.__firstFrameMs !== null && w.__connectedMs !== null && w.__hydratedMs !== null) observer.disconnect();
  };
  const observer = new MutationObserver(check);
  observer.observe(document, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ['data-status', 'data-hydrated', 'data-testid'],
  });
  check();
}

/** One Join: a full page load of the stream page; returns its timings in ms. */
async function join(shopper, streamPath) {
  await shopper.goto(`${BASE}${streamPath}`, { waitUntil: 'commit' });
  try {
    await shopper.waitForFunction(() => window.__firstFrameMs != null, null, {
      timeout: FIRST_FRAME_TIMEOUT_MS,
      polling: 100,
    });
  } catch {
    const status = await shopper
      .locator('[data-testid="player"]')
      .getAttribute('data-status', { timeout: 1_000 })
      .catch(() => 'no player');
    throw new Error(`no video frame within ${FIRST_FRAME_TIMEOUT_MS / 1000} s (player status: ${status})`);
  }
  await shopper
    .waitForFunction(() => window.__connectedMs != null && window.__hydratedMs != null, null, {
      timeout: CONNECTED_GRACE_MS,
      polling: 100,
    })
    .catch(() => {});
  return shopper.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return {
      firstFrame: window.__firstFrameMs,
      connected: window.__connectedMs,
      hydrated: window.__hydratedMs,
      ttfb: nav ? nav.responseStart : null,
      frameSize: window.__firstFrameSize,
    };
  });
}

async function leave(shopper) {
  await shopper.goto('about:blank');
  await sleep(PAUSE_BETWEEN_JOINS_MS);
}

// ---------------------------------------------------------------------------------------------------
// Statistics and the report

/** Nearest-rank percentile of ascending-sorted values. */
function percentile(sorted, p) {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

function summarize(values) {
  const v = values.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (v.length === 0) return null;
  return {
    n: v.length,
    p50: percentile(v, 50),
    p95: percentile(v, 95),
    min: v[0],
    max: v[v.length - 1],
    mean: v.reduce((a, b) => a + b, 0) / v.length,
  };
}

const fmt = (x) => (x === null || x === undefined ? '–' : String(Math.round(x)));

function table(rows) {
  const lines = [
    '| from the Join (navigation start) to | N | p50 | p95 | min | max | mean |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [label, s] of rows) {
    lines.push(
      s
        ? `| ${label} | ${s.n} | ${fmt(s.p50)} | ${fmt(s.p95)} | ${fmt(s.min)} | ${fmt(s.max)} | ${fmt(s.mean)} |`
        : `| ${label} | 0 | – | – | – | – | – |`,
    );
  }
  return lines.join('\n');
}

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function machine(chromiumVersion) {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? 'unknown';
  const memKb = Number(readFileSync('/proc/meminfo', 'utf8').match(/^MemTotal:\s+(\d+)/m)?.[1] ?? 0);
  return {
    nproc: sh('nproc', []) ?? String(os.cpus().length),
    model,
    ram: `${(memKb / 1024 / 1024).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    chromium: chromiumVersion,
    node: process.version,
  };
}

function header(m, date) {
  return [
    '# Benchmarks',
    '',
    'Measurements of the release build. Each section is written by its own script (it says which) and',
    'replaced on each run; numbers from different days or machines are not comparable with each other.',
    '',
    '<!-- machine: written by the benchmark scripts -->',
    `Machine of the latest run (${date}): ${m.nproc} CPUs (\`nproc\`), ${m.model}, ${m.ram} RAM,`,
    `kernel ${m.kernel}, Chromium ${m.chromium} (Debian, headless), Node ${m.node}.`,
    '<!-- /machine -->',
    '',
  ].join('\n');
}

function section({ date, m, joins, ff, conn, hyd, ttfb, failures, load, build, commit, frameSize }) {
  const met = ff && failures === 0 && ff.p50 < TARGET_P50_MS;
  const verdict = ff
    ? met
      ? `**Target met**: p50 to first frame is ${fmt(ff.p50)} ms, under the ${TARGET_P50_MS} ms target.`
      : failures > 0 && ff.p50 < TARGET_P50_MS
        ? `**Target not met**: p50 is ${fmt(ff.p50)} ms, under ${TARGET_P50_MS} ms, but ${failures} of ${joins} joins got no frame.`
        : `**Target not met**: p50 to first frame is ${fmt(ff.p50)} ms, not under the ${TARGET_P50_MS} ms target.`
    : '**Target not met**: no join got a video frame.';
  return [
    SECTION_TITLE,
    '',
    `Written by \`end2end/bench/join-to-first-frame.mjs\`; reproduce with \`make bench-join\` (\`JOINS=40 make bench-join\``,
    'for more joins). Target (issue): **p50 < 300 ms** from Join to the first decoded video frame.',
    '',
    verdict,
    '',
    `Measured ${date}, ${joins} counted joins after ${WARMUP} warm-up joins${failures ? `, ${failures} failed (no frame in ${FIRST_FRAME_TIMEOUT_MS / 1000} s)` : ', none failed'}. Times in ms:`,
    '',
    table([
      ['**first decoded video frame**', ff],
      ['peer connection connected', conn],
      ['page hydrated (WASM ran)', hyd],
      ['first byte of the page (TTFB)', ttfb],
    ]),
    '',
    'How it is measured:',
    '',
    `- **Join** = a full page load of \`/live/<id>\` by a signed-in shopper; the clock starts at the navigation's start`,
    '  (`performance.timeOrigin`, where `performance.now()` is 0) and stops at the first `requestVideoFrameCallback` on',
    '  `video[data-testid="remote-video"]` (registered by an init script the moment the element is in the DOM), or when',
    '  `[data-testid="player"]` gets `data-status="connected"`. Percentiles are nearest-rank.',
    `- Between joins the shopper goes to \`about:blank\` (its peer connection and WebSocket close) and waits ${PAUSE_BETWEEN_JOINS_MS} ms;`,
    '  the seller stays live in another browser context of the same browser for the whole run.',
    `- Build: release (\`cargo leptos build --release\`: server \`--release\`, WASM profile \`wasm-release\`, then wasm-opt`,
    `  from npm binaryen), ${build}; checkout ${commit} at the time of the run.`,
    `- Server \`target/release/onair --bind 127.0.0.1:${PORT}\`, \`RUST_LOG=warn\`, fresh database \`onair_bench\` on the local PostgreSQL.`,
    `- Browser: Debian Chromium ${m.chromium}, headless, launch args as in \`end2end/playwright.config.ts\`, fake camera`,
    `  (${frameSize ?? '640x480'} video). One browser, two contexts (seller and shopper).`,
    '- Network: loopback (127.0.0.1), no STUN/TURN (no `--ice-servers`): host candidates only. Real networks add',
    '  round trips (ICE checks, DTLS) that this number does not contain.',
    `- Server and browser share the machine's ${m.nproc} CPUs; no CPU pinning (\`taskset\`) was used. Load average at`,
    `  the start of the run: ${load}.`,
    '',
  ].join('\n');
}

/** Replaces the section (from its heading to the next "## " heading) and the machine block; keeps the rest. */
function writeDoc(headerText, sectionText) {
  let doc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '';
  if (!doc.trim()) doc = `${headerText}\n`;
  // Machine block.
  const machineRe = /<!-- machine: written by the benchmark scripts -->[\s\S]*?<!-- \/machine -->\n?/;
  const newMachine = headerText.match(machineRe)[0];
  if (machineRe.test(doc)) doc = doc.replace(machineRe, newMachine);
  // The section.
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l.trim() === SECTION_TITLE);
  if (start === -1) {
    doc = `${doc.replace(/\n*$/, '\n\n')}${sectionText}`;
  } else {
    let end = lines.findIndex((l, i) => i > start && /^##?\s/.test(l));
    if (end === -1) end = lines.length;
    const before = lines.slice(0, start).join('\n');
    const after = lines.slice(end).join('\n');
    doc = `${before}${before ? '\n' : ''}${sectionText}${after ? `\n${after}` : ''}`;
  }
  writeFileSync(docPath, doc.replace(/\n*$/, '\n'));
}

// ---------------------------------------------------------------------------------------------------

async function main() {
  if (!Number.isInteger(JOINS) || JOINS < 1) throw new Error(`JOINS must be a positive integer, got ${process.env.JOINS}`);
  if (!existsSync('/usr/bin/chromium')) throw new Error('/usr/bin/chromium is missing: run `make test` (it installs Debian chromium)');
  const [load1, load5, load15] = os.loadavg();
  const cpus = Number(sh('nproc', []) ?? os.cpus().length);
  const load =
    `${[load1, load5, load15].map((x) => x.toFixed(2)).join(', ')} (1, 5, 15 min)` +
    (load1 >= cpus / 2
      ? `: other work was running on the ${cpus} CPUs, so these numbers are on the slow side`
      : ': the machine was otherwise idle');
  const bin = statSync(serverBinary, { throwIfNoEntry: false });
  const wasm = statSync(path.join(siteRoot, 'pkg', 'onair.wasm'), { throwIfNoEntry: false });
  const build = [
    bin ? `server binary built ${bin.mtime.toISOString().replace(/\.\d+Z$/, 'Z')}` : null,
    wasm ? `WASM built ${wasm.mtime.toISOString().replace(/\.\d+Z$/, 'Z')}, ${(wasm.size / 1024).toFixed(0)} KiB uncompressed` : null,
  ]
    .filter(Boolean)
    .join(', ');
  // Only changes to what goes into the build matter here (not, say, this script or the Makefile).
  const buildInputs = ['src', 'style', 'public', 'migrations', '.sqlx', 'Cargo.toml', 'Cargo.lock'];
  const dirty = sh('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no', '--', ...buildInputs]);
  const commit = `\`${sh('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']) ?? 'unknown'}\`${dirty ? ' (with uncommitted changes to the sources)' : ''}`;

  const siteFiles = ['onair.js', 'onair.wasm'].map((f) => path.join(siteRoot, 'pkg', f));
  const siteStamps = new Map(siteFiles.map((f) => [f, statSync(f, { throwIfNoEntry: false })?.mtimeMs]));
  await startServer();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const m = machine(browser.version());
    log('signing up a seller and a shopper');
    const seller = await signUp(browser, 'bench_seller', 'Bench Seller');
    const shopper = await signUp(browser, 'bench_shopper', 'Bench Shopper');
    const streamPath = await goLive(seller);
    log(`seller is live at ${streamPath}`);
    await shopper.addInitScript(instrumentJoin);
    await leave(shopper);

    const results = [];
    let failures = 0;
    let frameSize = null;
    for (let i = -WARMUP; i < JOINS; i += 1) {
      const label = i < 0 ? `warm-up ${i + WARMUP + 1}/${WARMUP}` : `join ${i + 1}/${JOINS}`;
      try {
        const r = await join(shopper, streamPath);
        frameSize ??= r.frameSize;
        log(`${label}: first frame ${fmt(r.firstFrame)} ms, connected ${fmt(r.connected)} ms, hydrated ${fmt(r.hydrated)} ms, ttfb ${fmt(r.ttfb)} ms`);
        if (i >= 0) results.push(r);
      } catch (e) {
        log(`${label}: FAILED: ${e.message}`);
        if (i >= 0) failures += 1;
      }
      await leave(shopper);
    }

    const ff = summarize(results.map((r) => r.firstFrame));
    const conn = summarize(results.map((r) => r.connected));
    const hyd = summarize(results.map((r) => r.hydrated));
    const ttfb = summarize(results.map((r) => r.ttfb));
    const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const text = section({ date, m, joins: JOINS, ff, conn, hyd, ttfb, failures, load, build, commit, frameSize });

    console.log(`\nJoin to first frame, release build, loopback (${JOINS} joins, ${failures} failed), ms:\n`);
    console.log(
      table([
        ['first decoded video frame', ff],
        ['peer connection connected', conn],
        ['page hydrated (WASM ran)', hyd],
        ['first byte of the page (TTFB)', ttfb],
      ]),
    );
    console.log(`\nTarget p50 < ${TARGET_P50_MS} ms: ${ff && failures === 0 && ff.p50 < TARGET_P50_MS ? 'MET' : 'NOT MET'}`);

    // A build that finished during the run (another shell, CI) would mix two front ends in one number: the
    // server reads target/site on each request. (A new target/release/onair does not matter: the server
    // already running keeps its own copy.)
    const changed = siteFiles.filter((f) => statSync(f, { throwIfNoEntry: false })?.mtimeMs !== siteStamps.get(f));
    if (changed.length > 0) {
      throw new Error(
        `${changed.map((f) => path.relative(repoRoot, f)).join(', ')} changed during the run (a build finished): not writing the doc; run again`,
      );
    }
    if (JOINS >= MIN_JOINS_FOR_DOC) {
      writeDoc(header(m, date), text);
      console.log(`wrote the "${SECTION_TITLE.slice(3)}" section of ${path.relative(repoRoot, docPath)}`);
    } else {
      console.log(`not writing ${path.relative(repoRoot, docPath)}: it needs JOINS >= ${MIN_JOINS_FOR_DOC}`);
    }
    if (!ff) throw new Error('no join got a video frame');
  } finally {
    await browser.close().catch(() => {});
    await stopServer();
  }
}

main().then(
  () => process.exit(0),
  async (e) => {
    console.error(`\nerror: ${e.message}`);
    await stopServer();
    process.exit(1);
  },
);
