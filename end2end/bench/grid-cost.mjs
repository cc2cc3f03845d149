#!/usr/bin/env node
// Benchmark (not a test), issue #5: what ONE invigilator page (/tests/<id>/invigilate) costs with N students
// streaming to it: downlink, received resolution and frame rate, CPU. Run it with `make bench-grid`
// (STUDENTS=20 make bench-grid for more students).
//
// What it does:
//   1. copies the release build (target/release/onair, target/site) to a temporary directory, so that a build
//      finishing meanwhile changes nothing, and starts that copy on 127.0.0.1:3350 (database from $DATABASE_URL, which the Makefile
//      recreates with `scripts/ensure-db.sh --fresh onair_bench_grid`) and waits for /healthz;
//   2. launches Debian's Chromium (same launch args as end2end/playwright.config.ts) for the students (one
//      browser context each, fake camera and microphone; up to 15 per browser, as Chromium's audio service opens
//      at most 16 capture streams) and once more for the invigilator alone, so that the invigilator's processes
//      (renderer, GPU, network service) can be told apart in /proc;
//   3. signs up a teacher and N students (`POST /api/signup` with fetch from each context's page), the teacher
//      creates a test (`POST /api/create_test`) and enrols the students (`POST /api/add_member`);
//   4. in steps (5, 10, 15, … up to STUDENTS): the step's students open /tests/<id>/take and click "Turn on
//      camera and start" (real UI, wait for the live indicator); the teacher's grid (opened at the first step
//      and kept open) must show every started student's thumbnail playing; after SETTLE_S seconds the script
//      samples once a second for MEASURE_S seconds:
//        - every RTCPeerConnection of the invigilator page (an init script wraps the global constructor and
//          keeps them in window.__pcs): inbound-rtp bytesReceived (RTP payload), headerBytesReceived, the
//          transport's bytesReceived (what arrived over UDP, with SRTP/RTCP/STUN), framesDecoded, frame size,
//          totalDecodeTime;
//        - CPU: the invigilator renderer's main thread (CDP Performance.getMetrics TaskDuration / wall time),
//          every process of the invigilator's browser from /proc/<pid>/stat (utime+stime), the students'
//          browser, the server, and the whole machine from /proc/stat;
//   5. at the step with MODAL_AT (default 10) students, also clicks "Watch <first student>" (the full-resolution
//      modal) and measures again: the opened stream's resolution, fps and bitrate next to the N−1 thumbnails; then
//      closes the modal and goes on;
//   6. prints everything and replaces the "## Proctoring grid cost" section of docs/benchmarks.md (between
//      its heading and the <!-- /grid-cost --> marker; the rest of the file is kept as it is on disk at
//      that moment). The server is stopped at the end, on errors and on Ctrl-C too.
//
// Environment: ONAIR_SITE_ROOT (default target/site), STUDENTS (default 10; fewer than 10 prints the results but does not write the doc),
// STEP (default 5: measure at 5, 10, …), MODAL_AT (default 10), MEASURE_S (default 15), SETTLE_S (default 8), BENCH_PORT (default
// 3350), DATABASE_URL (else scripts/ensure-db.sh --fresh onair_bench_grid is called).

import { chromium } from '@playwright/test';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const buildBinary = path.join(repoRoot, 'target', 'release', 'onair');
const buildSite = path.resolve(repoRoot, process.env.ONAIR_SITE_ROOT ?? path.join('target', 'site'));
// The run uses a private copy of the build (snapshotBuild): a build finishing in target/ meanwhile changes nothing.
let snapshotDir = null;
let serverBinary = buildBinary;
let siteRoot = buildSite;
const docPath = path.join(repoRoot, 'docs', 'benchmarks.md');

const PORT = Number(process.env.BENCH_PORT ?? 3350);
const BASE = `http://127.0.0.1:${PORT}`;
const STUDENTS = Number(process.env.STUDENTS ?? 10);
const STEP = Number(process.env.STEP ?? 5);
const MEASURE_S = Number(process.env.MEASURE_S ?? 15);
const SETTLE_S = Number(process.env.SETTLE_S ?? 8);
const MIN_STUDENTS_FOR_DOC = 10;
const STUDENTS_PER_BROWSER = 15;
const MODAL_AT = Number(process.env.MODAL_AT ?? 10);
const EXTRAPOLATE_TO = 30;
const PASSWORD = 'bench-password-123';
const SECTION_TITLE = '## Proctoring grid cost';
const END_MARKER = '<!-- /grid-cost -->';
const CLK_TCK = 100; // USER_HZ; checked against `getconf CLK_TCK` in main()

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
// The server (as in join-to-first-frame.mjs)

let server = null;

function databaseUrl() {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  log('DATABASE_URL is not set: asking scripts/ensure-db.sh for a fresh database onair_bench_grid');
  const out = execFileSync(path.join(repoRoot, 'scripts', 'ensure-db.sh'), ['--fresh', 'onair_bench_grid'], {
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

/**
 * Copies target/release/onair and target/site to a temporary directory (timestamps kept) after checking that they
 * are a complete release build, and points the run at the copy. Retries while a build is writing them.
 */
async function snapshotBuild() {
  const stamp = () => [buildBinary, path.join(buildSite, 'pkg', 'onair.wasm'), path.join(buildSite, 'pkg', 'onair.js')]
    .map((f) => statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 'missing')
    .join(' ');
  for (let attempt = 1; ; attempt += 1) {
    if (!existsSync(buildBinary) || !existsSync(path.join(buildSite, 'pkg'))) {
      throw new Error('target/release/onair or target/site/pkg is missing: run `make test` or `cargo leptos build --release` first');
    }
    for (const file of ['onair.js', 'onair.wasm']) {
      if (!existsSync(path.join(buildSite, 'pkg', file))) {
        throw new Error(`target/site/pkg/${file} is missing (a build still running, or one that failed?): run \`cargo leptos build --release\` first`);
      }
    }
    const before = stamp();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'onair-bench-grid-'));
    cpSync(buildBinary, path.join(dir, 'onair'), { preserveTimestamps: true });
    cpSync(buildSite, path.join(dir, 'site'), { recursive: true, preserveTimestamps: true });
    if (stamp() === before) {
      snapshotDir = dir;
      serverBinary = path.join(dir, 'onair');
      siteRoot = path.join(dir, 'site');
      break;
    }
    rmSync(dir, { recursive: true, force: true });
    if (attempt === 5) throw new Error('target/release/onair or target/site kept changing while being copied (a build running?): run again later');
    log('the build changed while being copied (a build running?); trying again in 10 s');
    await sleep(10_000);
  }
  if (wasmHasNameSection(path.join(siteRoot, 'pkg', 'onair.wasm'))) {
    throw new Error(
      'target/site/pkg/onair.wasm is a debug build or not yet optimized (it has a "name" section; `cargo leptos build` ' +
        'without --release writes there too, and a release build writes it before wasm-opt): run `cargo leptos build --release` first',
    );
  }
}

function removeSnapshot() {
  if (snapshotDir) rmSync(snapshotDir, { recursive: true, force: true });
  snapshotDir = null;
}

async function startServer() {
  if (await healthy()) {
    throw new Error(`something already answers on ${BASE}/healthz: stop it (or set BENCH_PORT) so the benchmark measures its own server`);
  }
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl(),
    ONAIR_SITE_ROOT: siteRoot,
    ONAIR_ALLOWED_ORIGINS: `${BASE},http://localhost:${PORT}`,
    RUST_LOG: 'warn',
  };
  log(`starting (a copy of) ${path.relative(repoRoot, buildBinary)} --bind 127.0.0.1:${PORT}`);
  server = spawn(serverBinary, ['--bind', `127.0.0.1:${PORT}`], { cwd: repoRoot, env, stdio: ['ignore', 'inherit', 'inherit'] });
  let exited = null;
  server.once('exit', (code, signal) => {
    exited = { code, signal };
  });
  const deadline = Date.now() + 120_000; // the first start runs the migrations
  while (Date.now() < deadline) {
    if (exited) throw new Error(`the server exited before answering /healthz (code ${exited.code}, signal ${exited.signal})`);
    if (await healthy()) {
      await checkAssets();
      return;
    }
    await sleep(200);
  }
  throw new Error(`the server did not answer ${BASE}/healthz within 120 s`);
}

/**
 * The page's hydration script must name files that exist: a server binary built by plain `cargo build` (not
 * cargo-leptos, which sets LEPTOS_OUTPUT_NAME at compile time) asks for pkg/onair_bg.wasm, which cargo-leptos
 * never writes, and no page would ever hydrate.
 */
async function checkAssets() {
  const html = await (await fetch(`${BASE}/login`)).text();
  for (const asset of new Set(html.match(/\/pkg\/[\w.-]+\.(?:wasm|js)/g) ?? [])) {
    if (!existsSync(path.join(siteRoot, asset))) {
      throw new Error(
        `the server's pages load ${asset}, which is not in ${path.relative(repoRoot, buildSite)}: the server binary and the site ` +
          'do not come from the same `cargo leptos build --release` (a plain `cargo build --release` replaced the binary?)',
      );
    }
  }
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
    removeSnapshot();
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------------------------------
// /proc: processes and CPU time

/** pid → { ppid, ticks (utime+stime), comm } for every process now. */
function processTable() {
  const table = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const f = stat.slice(close + 2).split(' '); // f[0] is field 3 (state)
      table.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), comm });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

function descendants(table, root) {
  const out = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, p] of table) {
      if (!out.has(pid) && out.has(p.ppid)) {
        out.add(pid);
        grew = true;
      }
    }
  }
  return out;
}

function cmdline(pid) {
  try {
    // Processes forked by Chromium's zygote rewrite their command line into one space-separated string.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/);
  } catch {
    return [];
  }
}

function rssKiB(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)/m)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** A Chromium process's role from its --type (and utility sub-type). */
function chromiumRole(pid) {
  const args = cmdline(pid);
  const type = args.find((a) => a.startsWith('--type='))?.slice(7);
  if (!type) return 'browser';
  if (type === 'utility') {
    const sub = args.find((a) => a.startsWith('--utility-sub-type='))?.slice(19) ?? '';
    if (sub.includes('Network')) return 'network';
    if (sub.includes('Audio')) return 'audio';
    if (sub.includes('VideoCapture')) return 'video-capture';
    return 'utility';
  }
  if (type === 'renderer' && args.includes('--top-chrome-webui')) return 'renderer-webui';
  return type; // renderer, gpu-process, zygote, …
}

/** Chromium processes that are direct children of this node process (Playwright spawns the browser). */
function ownChromiumChildren() {
  const out = new Set();
  for (const [pid, p] of processTable()) {
    if (p.ppid === process.pid && /chrom/i.test(p.comm)) out.add(pid);
  }
  return out;
}

async function launchBrowser(label) {
  const before = ownChromiumChildren();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const fresh = [...ownChromiumChildren()].filter((pid) => !before.has(pid));
  if (fresh.length !== 1) log(`warning: could not identify the ${label} browser's process (${fresh.length} candidates): no /proc CPU for it`);
  return { browser, pid: fresh.length === 1 ? fresh[0] : null };
}

/**
 * The machine's clock and idle time, both in seconds, from /proc/uptime (idle summed over all CPUs; the same
 * idle accounting as /proc/stat's idle column). Busy = CPUs × wall − idle: /proc/stat's user and system columns
 * are sampled at timer ticks and under-count short, frequent bursts such as video frames on a tickless kernel,
 * while idle time is measured exactly.
 */
function machineTime() {
  const [uptime, idle] = readFileSync('/proc/uptime', 'utf8').trim().split(/\s+/).map(Number);
  return { uptime, idle };
}

/** CPU ticks per process of the trees we care about (group name → root pid or pids), plus the machine. */
function cpuSnapshot(roots) {
  const table = processTable();
  const snap = { machine: machineTime(), groups: {} };
  for (const [name, root] of Object.entries(roots)) {
    const rootPids = (Array.isArray(root) ? root : [root]).filter(Boolean);
    if (rootPids.length === 0) continue;
    const procs = {};
    for (const r of rootPids) {
      for (const pid of descendants(table, r)) {
        if (!table.has(pid)) continue;
        procs[pid] = { ticks: table.get(pid).ticks, role: name === 'server' ? 'server' : chromiumRole(pid) };
      }
    }
    snap.groups[name] = procs;
  }
  return snap;
}

/** Cores used (1.0 = one core fully busy) between two snapshots, per group and per process. */
function cpuDelta(a, b) {
  const out = { groups: {}, machine: null };
  // The snapshots' own clock: on a loaded machine the page's stats (another time base) can come seconds later.
  const seconds = b.machine.uptime - a.machine.uptime;
  const cores = (ticks) => ticks / CLK_TCK / seconds;
  for (const [name, procs] of Object.entries(b.groups)) {
    const before = a.groups[name] ?? {};
    const perProc = [];
    let sum = 0;
    for (const [pid, p] of Object.entries(procs)) {
      const d = p.ticks - (before[pid]?.ticks ?? 0); // a process started in between counts from 0
      sum += d;
      perProc.push({ pid: Number(pid), role: p.role, cores: cores(d) });
    }
    perProc.sort((x, y) => y.cores - x.cores);
    out.groups[name] = { cores: cores(sum), perProc };
  }
  const ncpu = os.cpus().length;
  const busyCores = Math.min(ncpu, Math.max(0, ncpu - (b.machine.idle - a.machine.idle) / seconds));
  out.machine = { fraction: busyCores / ncpu, cores: busyCores };
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The browser side

/** Init script for the invigilator's page: every RTCPeerConnection the app constructs lands in window.__pcs. */
function recordPeerConnections() {
  const Original = window.RTCPeerConnection;
  if (!Original || Original.__benchRecorded) return;
  window.__pcs = [];
  class RecordedPeerConnection extends Original {
    constructor(...args) {
      super(...args);
      window.__pcs.push(this);
    }
  }
  RecordedPeerConnection.__benchRecorded = true;
  window.RTCPeerConnection = RecordedPeerConnection;
}

/** In the page: stats of every recorded peer connection (run with page.evaluate). */
async function pageStats() {
  const t = performance.now();
  const pcs = [];
  for (const [index, pc] of (window.__pcs ?? []).entries()) {
    const rec = { index, state: pc.connectionState, inbound: [], transportBytes: 0 };
    if (pc.connectionState !== 'closed') {
      const stats = await pc.getStats();
      const codecs = {};
      stats.forEach((s) => {
        if (s.type === 'codec') codecs[s.id] = s.mimeType;
      });
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp') {
          rec.inbound.push({
            ssrc: s.ssrc,
            kind: s.kind,
            bytes: s.bytesReceived ?? 0,
            header: s.headerBytesReceived ?? 0,
            packets: s.packetsReceived ?? 0,
            lost: s.packetsLost ?? 0,
            frames: s.framesDecoded ?? 0,
            decodeTime: s.totalDecodeTime ?? 0,
            width: s.frameWidth ?? null,
            height: s.frameHeight ?? null,
            fps: s.framesPerSecond ?? null,
            track: s.trackIdentifier,
            codec: codecs[s.codecId] ?? null,
            decoder: s.decoderImplementation ?? null,
          });
        } else if (s.type === 'transport') {
          rec.transportBytes += s.bytesReceived ?? 0;
        }
      });
    }
    pcs.push(rec);
  }
  return { t, pcs };
}

/** In the page: each student card's name, state and the id of the video track its thumbnail shows. */
function pageCards() {
  const trackOf = (v) => (v && v.srcObject && v.srcObject.getVideoTracks ? v.srcObject.getVideoTracks()[0]?.id ?? null : null);
  const cards = [...document.querySelectorAll('[data-testid="student-card"]')].map((card) => {
    const v = card.querySelector('video[data-testid="thumbnail"]');
    return {
      name: card.querySelector('.student-meta strong')?.textContent ?? '?',
      state: card.getAttribute('data-state'),
      track: trackOf(v),
      videoWidth: v?.videoWidth ?? 0,
      videoHeight: v?.videoHeight ?? 0,
      currentTime: v?.currentTime ?? 0,
      shownWidth: v?.clientWidth ?? 0,
      shownHeight: v?.clientHeight ?? 0,
    };
  });
  const modal = document.querySelector('video[data-testid="modal-video"]');
  return {
    cards,
    modal: modal ? { track: trackOf(modal), videoWidth: modal.videoWidth, videoHeight: modal.videoHeight, shownWidth: modal.clientWidth, shownHeight: modal.clientHeight } : null,
  };
}

async function waitHydrated(page) {
  await page.locator('body[data-hydrated="true"]').waitFor({ state: 'attached', timeout: 30_000 });
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

/** A server function call from the page (form-encoded, the session cookie of its context); returns the JSON. */
async function callApi(page, endpoint, fields) {
  const res = await page.evaluate(
    async ({ endpoint, fields }) => {
      const r = await fetch(`/api/${endpoint}`, { method: 'POST', body: new URLSearchParams(fields) });
      return { status: r.status, body: await r.text() };
    },
    { endpoint, fields },
  );
  if (res.status !== 200) throw new Error(`POST /api/${endpoint} answered ${res.status}: ${res.body.slice(0, 300)}`);
  return res.body ? JSON.parse(res.body) : null;
}

/** A new context in `browser` with a signed-up account; its page stays on /healthz (same origin, no app). */
async function account(browser, prefix, displayName) {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text().slice(0, 300));
  });
  page.on('pageerror', (e) => errors.push(e.message.slice(0, 300)));
  await page.goto(`${BASE}/healthz`);
  const username = uniqueName(prefix);
  await callApi(page, 'signup', { username, display_name: displayName, password: PASSWORD });
  return { context, page, username, name: displayName, errors };
}

/** A student opens the take page and starts (camera first), as in proctor.spec.ts. */
async function startStudent(student, testPath) {
  await gotoHydrated(student.page, `${testPath}/take`);
  await student.page.getByRole('button', { name: 'Turn on camera and start' }).click();
  // Visible: the indicator is in the page (hidden) from the start and says "live" as soon as the WebSocket is
  // open; it shows once the attempt has started.
  try {
    await student.page
      .locator('[data-testid="stream-indicator"][data-state="live"]')
      .waitFor({ state: 'visible', timeout: 30_000 });
  } catch (e) {
    const alerts = await student.page
      .locator('[role="alert"], .form-error')
      .allTextContents()
      .catch(() => []);
    throw new Error(
      `${student.name} did not start streaming within 30 s (page says: ${alerts.join(' | ') || 'nothing'}; ` +
        `console errors: ${student.errors.slice(-5).join(' | ') || 'none'})`,
    );
  }
}

/** Waits until every started student's card is live and its thumbnail plays (video size > 0, time moves). */
async function waitThumbnailsPlaying(page, names, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  let previous = null;
  while (Date.now() < deadline) {
    const { cards } = await page.evaluate(pageCards);
    const byName = new Map(cards.map((c) => [c.name, c]));
    const missing = names.filter((n) => {
      const c = byName.get(n);
      const before = previous?.get(n);
      return !c || c.state !== 'live' || c.videoWidth === 0 || !before || !(c.currentTime > before.currentTime);
    });
    if (missing.length === 0) return;
    last = missing.map((n) => {
      const c = byName.get(n);
      return c ? `${n} (card ${c.state}, video ${c.videoWidth}×${c.videoHeight}, track ${c.track ? 'attached' : 'none'}, t=${c.currentTime.toFixed(1)})` : `${n} (no card)`;
    });
    previous = byName;
    await sleep(500);
  }
  const pcs = await page.evaluate(() => (window.__pcs ?? []).map((pc) => `${pc.connectionState}/${pc.signalingState}`).join(', '));
  // What a fresh load of the grid says (the server's view), to tell a stale page from a server-side state.
  await page.reload();
  await waitHydrated(page);
  await sleep(3_000);
  const after = (await page.evaluate(pageCards)).cards.map((c) => `${c.name}: ${c.state}, ${c.videoWidth}×${c.videoHeight}`).join('; ');
  throw new Error(
    `thumbnails not playing after ${timeoutMs / 1000} s: ${last?.join('; ')}; the page's peer connections: ${pcs}; after a reload: ${after}`,
  );
}

// ---------------------------------------------------------------------------------------------------
// One measurement window

/**
 * Samples once a second for MEASURE_S seconds. Returns per-stream rates (keyed by peer connection index and
 * SSRC), totals, CPU (CDP main thread, /proc per group) and the time series of the total downlink.
 */
async function measure(page, cdp, roots) {
  const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  const first = { stats: await page.evaluate(pageStats), cpu: cpuSnapshot(roots), perf: await metrics() };
  let prev = first;
  const series = [];
  for (let i = 0; i < MEASURE_S; i += 1) {
    await sleep(1_000);
    const now = { stats: await page.evaluate(pageStats), perf: await metrics() };
    series.push(totalBytes(now.stats) - totalBytes(prev.stats) > 0 ? ((totalBytes(now.stats) - totalBytes(prev.stats)) * 8) / (now.stats.t - prev.stats.t) : 0);
    prev = now;
  }
  const last = { stats: prev.stats, cpu: cpuSnapshot(roots), perf: prev.perf };
  const seconds = (last.stats.t - first.stats.t) / 1000;

  const before = new Map();
  for (const pc of first.stats.pcs) for (const s of pc.inbound) before.set(`${pc.index}/${s.ssrc}`, s);
  const streams = [];
  for (const pc of last.stats.pcs) {
    for (const s of pc.inbound) {
      const b = before.get(`${pc.index}/${s.ssrc}`);
      const base = b ?? { bytes: 0, header: 0, packets: 0, lost: 0, frames: 0, decodeTime: 0 };
      streams.push({
        pc: pc.index,
        kind: s.kind,
        track: s.track,
        kbps: ((s.bytes - base.bytes) * 8) / 1000 / seconds,
        headerKbps: ((s.header - base.header) * 8) / 1000 / seconds,
        fps: s.kind === 'video' ? (s.frames - base.frames) / seconds : null,
        statsFps: s.fps,
        width: s.width,
        height: s.height,
        decodeMsPerS: ((s.decodeTime - base.decodeTime) * 1000) / seconds,
        lost: s.lost - base.lost,
        packets: s.packets - base.packets,
        codec: s.codec,
        decoder: s.decoder,
        wholeWindow: !!b,
      });
    }
  }
  const transportBefore = new Map(first.stats.pcs.map((pc) => [pc.index, pc.transportBytes]));
  const transportKbps =
    last.stats.pcs.reduce((a, pc) => a + (pc.transportBytes - (transportBefore.get(pc.index) ?? 0)), 0) * 8 / 1000 / seconds;
  const perfSeconds = last.perf.Timestamp - first.perf.Timestamp;
  return {
    seconds,
    streams,
    pcsOpen: last.stats.pcs.filter((pc) => pc.state === 'connected').length,
    pcsTotal: last.stats.pcs.length,
    transportKbps,
    series,
    mainThread: (last.perf.TaskDuration - first.perf.TaskDuration) / perfSeconds,
    scriptShare: (last.perf.ScriptDuration - first.perf.ScriptDuration) / perfSeconds,
    jsHeapMiB: last.perf.JSHeapUsedSize / 1024 / 1024,
    cpu: cpuDelta(first.cpu, last.cpu),
  };
}

function totalBytes(stats) {
  return stats.pcs.reduce((a, pc) => a + pc.inbound.reduce((b, s) => b + s.bytes, 0), 0);
}

/** Per student (peer connection): video and audio kbit/s, video size and fps; joined with the card names. */
function perStudent(m, cards) {
  const nameOfTrack = new Map(cards.filter((c) => c.track).map((c) => [c.track, c.name]));
  const rows = new Map();
  for (const s of m.streams) {
    const r = rows.get(s.pc) ?? { pc: s.pc, name: null, videoKbps: 0, audioKbps: 0, headerKbps: 0, width: null, height: null, fps: null, statsFps: null, decodeMsPerS: 0, lost: 0, packets: 0, codec: null, decoder: null };
    if (s.kind === 'video') {
      r.videoKbps += s.kbps;
      r.width = s.width;
      r.height = s.height;
      r.fps = s.fps;
      r.statsFps = s.statsFps;
      r.decodeMsPerS += s.decodeMsPerS;
      r.codec = s.codec;
      r.decoder = s.decoder;
      r.track = s.track;
      r.name = nameOfTrack.get(s.track) ?? r.name;
    } else {
      r.audioKbps += s.kbps;
    }
    r.headerKbps += s.headerKbps;
    r.lost += s.lost;
    r.packets += s.packets;
    rows.set(s.pc, r);
  }
  // Only connections that carried media in the window (a replaced connection shows as ~0).
  return [...rows.values()].filter((r) => r.videoKbps + r.audioKbps > 1).map((r) => ({ ...r, kbps: r.videoKbps + r.audioKbps }));
}

// ---------------------------------------------------------------------------------------------------
// Statistics and the report

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
};
const minOf = (xs) => Math.min(...xs.filter((x) => Number.isFinite(x)));
const maxOf = (xs) => Math.max(...xs.filter((x) => Number.isFinite(x)));
const f0 = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : String(Math.round(x)));
const f1 = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(1));
const pct = (cores) => (cores === null || cores === undefined || !Number.isFinite(cores) ? '–' : `${Math.round(cores * 100)} %`);

/** Least squares y = a + b·x. */
function linearFit(points) {
  const n = points.length;
  if (n === 1) return { a: 0, b: points[0][1] / points[0][0], exact: false };
  const mx = sum(points.map((p) => p[0])) / n;
  const my = sum(points.map((p) => p[1])) / n;
  const sxx = sum(points.map((p) => (p[0] - mx) ** 2));
  const sxy = sum(points.map((p) => (p[0] - mx) * (p[1] - my)));
  const b = sxy / sxx;
  return { a: my - b * mx, b, exact: true };
}

function sizes(rows) {
  const counts = new Map();
  for (const r of rows) {
    const k = r.width && r.height ? `${r.width}×${r.height}` : '?';
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts.entries()].map(([k, c]) => (counts.size === 1 ? k : `${k} (${c})`)).join(', ');
}

/** The numbers of one step, for the console and the doc. */
function summarizeStep(n, m, rows) {
  const inv = m.cpu.groups.invigilator;
  const renderers = inv ? inv.perProc.filter((p) => p.role === 'renderer') : [];
  const role = (r) => (inv ? sum(inv.perProc.filter((p) => p.role === r).map((p) => p.cores)) : null);
  return {
    n,
    streaming: rows.length,
    totalKbps: sum(rows.map((r) => r.kbps)),
    videoKbps: sum(rows.map((r) => r.videoKbps)),
    audioKbps: sum(rows.map((r) => r.audioKbps)),
    headerKbps: sum(rows.map((r) => r.headerKbps)),
    transportKbps: m.transportKbps,
    perStudentMedian: median(rows.map((r) => r.kbps)),
    perStudentMin: rows.length ? minOf(rows.map((r) => r.kbps)) : null,
    perStudentMax: rows.length ? maxOf(rows.map((r) => r.kbps)) : null,
    perStudentVideoMedian: median(rows.map((r) => r.videoKbps)),
    sizes: sizes(rows),
    fpsMedian: median(rows.map((r) => r.fps)),
    fpsMin: rows.length ? minOf(rows.map((r) => r.fps)) : null,
    fpsMax: rows.length ? maxOf(rows.map((r) => r.fps)) : null,
    decodeMsPerS: sum(rows.map((r) => r.decodeMsPerS)),
    lossPct: (100 * sum(rows.map((r) => r.lost))) / Math.max(1, sum(rows.map((r) => r.packets + r.lost))),
    series: m.series,
    mainThread: m.mainThread,
    renderer: renderers.length ? renderers[0].cores : null,
    renderersAll: renderers.length ? sum(renderers.map((p) => p.cores)) : null,
    gpu: role('gpu-process'),
    network: role('network'),
    browserProc: role('browser'),
    invigilatorTotal: inv?.cores ?? null,
    invigilatorProcs: inv ? inv.perProc.filter((p) => p.cores >= 0.005) : [],
    students: m.cpu.groups.students?.cores ?? null,
    server: m.cpu.groups.server?.cores ?? null,
    machineCores: m.cpu.machine.cores,
    machineFraction: m.cpu.machine.fraction,
    codec: [...new Set(rows.map((r) => r.codec).filter(Boolean))].join(', '),
    decoder: [...new Set(rows.map((r) => r.decoder).filter(Boolean))].join(', '),
    jsHeapMiB: m.jsHeapMiB,
    seconds: m.seconds,
  };
}

const saturated = (s) => s.machineFraction >= 0.95;
/** A step where the students still sent their 10 fps: their machine (here: this one) kept up. */
const clean = (s) => s.fpsMedian !== null && s.fpsMedian >= 9.5;

function downlinkTable(steps) {
  const lines = [
    '| students N | downlink, kbit/s (RTP payload) | on the wire (UDP payload) | per student, median (min–max) | of it audio, per student | video received | fps per thumbnail, median (min–max) | window |',
    '|---:|---:|---:|---:|---:|---|---:|---:|',
  ];
  for (const s of steps) {
    lines.push(
      `| ${s.n}${clean(s) ? '' : ' †'} | **${f0(s.totalKbps)}** | ${f0(s.transportKbps)} | ${f0(s.perStudentMedian)} (${f0(s.perStudentMin)}–${f0(s.perStudentMax)}) | ${f0(s.audioKbps / Math.max(1, s.streaming))} | ${s.sizes} | ${f1(s.fpsMedian)} (${f1(s.fpsMin)}–${f1(s.fpsMax)}) | ${f1(s.seconds)} s |`,
    );
  }
  return lines.join('\n');
}

function cpuTable(steps) {
  const lines = [
    '| students N | invigilator renderer | of it main thread (CDP) | invigilator browser, all processes | decoding, wall ms per s | students\' browsers | server | other work | whole machine |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of steps) {
    const other = Math.max(0, s.machineCores - (s.invigilatorTotal ?? 0) - (s.students ?? 0) - (s.server ?? 0));
    lines.push(
      `| ${s.n}${clean(s) ? '' : ' †'} | **${pct(s.renderer)}** | ${pct(s.mainThread)} | ${pct(s.invigilatorTotal)} | ${f0(s.decodeMsPerS)} | ${pct(s.students)} | ${pct(s.server)} | ${pct(other)} | ${pct(s.machineCores)} of ${os.cpus().length * 100} % |`,
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

function section(r) {
  const last = r.steps[r.steps.length - 1];
  const maxN = last.n;
  const ns = r.steps.map((s) => s.n).join(', ');
  // Fits use the steps where the students kept up (10 fps); a starved student sends fewer, smaller frames, which
  // would make the invigilator look cheaper than it is.
  const fitSteps = r.steps.filter(clean).length ? r.steps.filter(clean) : r.steps;
  const fitNs = fitSteps.map((s) => s.n).join(', ');
  const starved = r.steps.filter((s) => !clean(s));
  const fitDown = linearFit(fitSteps.map((s) => [s.n, s.totalKbps]));
  const fitWire = linearFit(fitSteps.map((s) => [s.n, s.transportKbps]));
  const haveCpu = r.steps.every((s) => s.renderer !== null && s.invigilatorTotal !== null);
  const fitRenderer = haveCpu ? linearFit(fitSteps.map((s) => [s.n, s.renderer])) : null;
  const fitInv = haveCpu ? linearFit(fitSteps.map((s) => [s.n, s.invigilatorTotal])) : null;
  const at = (fit) => (fit ? fit.a + fit.b * EXTRAPOLATE_TO : null);
  const mbit = (kbps) => (kbps / 1000).toFixed(1);
  const perStudent = median(fitSteps.map((s) => s.totalKbps / s.streaming));
  const audioPerStudent = median(fitSteps.map((s) => s.audioKbps / Math.max(1, s.streaming)));
  const lastClean = fitSteps[fitSteps.length - 1];
  const mo = r.modal;
  const modalExtra = mo ? mo.full.kbps - perStudent : null;
  const cores = Number(r.m.nproc);
  const studentCpu = median(fitSteps.map((s) => (s.students ?? NaN) / s.n));
  const busySteps = r.steps.filter(saturated).map((s) => s.n);
  const lines = [
    SECTION_TITLE,
    '',
    '<!-- grid-cost: written by end2end/bench/grid-cost.mjs (`make bench-grid`); everything down to the closing marker is replaced on each run -->',
    `Written by \`end2end/bench/grid-cost.mjs\`; reproduce with \`make bench-grid\` (10 students) or \`STUDENTS=20 make bench-grid\`.`,
    'Issue #5: what **one invigilator page** (`/tests/<id>/invigilate`) costs with N students streaming to it. A',
    'measurement, not a pass/fail test.',
    '',
    `**Result** (measured ${r.date}, N = ${ns}): each student costs the invigilator **≈ ${f0(perStudent)} kbit/s** of downlink`,
    `(RTP payload: the thumbnail layer, ${lastClean.sizes} at ${f1(lastClean.fpsMedian)} fps, plus audio), linear in N: **${f0(lastClean.totalKbps)} kbit/s at N = ${lastClean.n}**${last !== lastClean ? ` (${f0(last.totalKbps)} at N = ${maxN}, where the students fell below 10 fps)` : ''}.`,
    haveCpu
      ? `The invigilator's renderer process used **${pct(lastClean.renderer)} of one core at N = ${lastClean.n}**${last !== lastClean ? ` (${pct(last.renderer)} at N = ${maxN})` : ''}, about ${f1(fitRenderer.b * 100)} % more per student.`
      : 'The invigilator\'s processes could not be identified in /proc: no CPU figures.',
    `Extrapolated to ${EXTRAPOLATE_TO} students (not measured): **≈ ${mbit(at(fitDown))} Mbit/s** (≈ ${mbit(at(fitWire))} on the wire)${haveCpu ? ` and **≈ ${pct(at(fitRenderer))}** of a core for the renderer` : ''}.`,
    '',
    `CPU: 100 % = one core fully busy; the machine has ${cores * 100} %. Each step was measured over a window of ${MEASURE_S} s (longer when the`,
    `machine was overloaded: the 1-s sampling then lags), ${SETTLE_S} s after every started student's thumbnail played.`,
    '',
    '### Grid of thumbnails (measured)',
    '',
    downlinkTable(r.steps),
    '',
    cpuTable(r.steps),
    '',
    starved.length
      ? `- † At N = ${starved.map((s) => s.n).join(', ')} the students' browsers no longer got enough CPU on this machine to send 10 fps (median`
      : null,
    starved.length
      ? `  ${starved.map((s) => f1(s.fpsMedian)).join(', ')} fps), so fewer bytes and frames reached the invigilator: ${starved.length === 1 ? 'that row understates the cost and is' : 'those rows understate the cost and are'}`
      : null,
    starved.length ? '  left out of the extrapolation.' : null,
    busySteps.length
      ? `- The whole machine was ≥ 95 % busy at N = ${busySteps.join(', ')} (students' browsers plus other work on ${cores} cores). The invigilator's CPU`
      : null,
    busySteps.length
      ? '  seconds are its own either way, but "decoding, wall ms" and the CDP main-thread figure are wall time, which includes'
      : null,
    busySteps.length ? '  waiting for a core.' : null,
    `- Received codec ${last.codec || '?'}${last.decoder ? ` (decoder ${last.decoder})` : ''}; packet loss ${r.steps.map((s) => `${s.lossPct.toFixed(2)} %`).join(', ')}. The thumbnails are drawn at`,
    `  ${r.shownThumb} CSS px, so the 320×240 layer is already more than the grid shows.`,
    `- Audio is ≈ ${f0(audioPerStudent)} kbit/s of each student's ${f0(perStudent)} (${f0((100 * audioPerStudent) / perStudent)} %), although every video in the grid and the`,
    '  modal is muted: the invigilator receives audio it never plays.',
    `- 1-s samples of the total downlink at N = ${lastClean.n}: ${f0(minOf(lastClean.series))}–${f0(maxOf(lastClean.series))} kbit/s.`,
    '',
    mo ? `### One student opened in the modal (measured, N = ${mo.n})` : '### One student opened in the modal',
    '',
    mo
      ? [
          '| stream | resolution | fps | kbit/s (RTP payload, video + audio) |',
          '|---|---|---:|---:|',
          `| the opened student (full layer) | ${mo.full.width}×${mo.full.height} | ${f1(mo.full.fps)} | ${f0(mo.full.kbps)} |`,
          `| each of the other ${mo.n - 1} (thumbnail layer), median | ${mo.othersSizes} | ${f1(mo.othersFpsMedian)} | ${f0(mo.othersMedianKbps)} |`,
          `| **total downlink** | | | **${f0(mo.totalKbps)}** (${f0(mo.transportKbps)} on the wire) |`,
          '',
          `The full layer reached the modal ${mo.switchMs !== null ? `${(mo.switchMs / 1000).toFixed(1)} s` : '(not seen within 20 s)'} after the click (first frame larger than the thumbnail in`,
          `the modal video, polled every 100 ms; the modal shows it at ${mo.shownModal} CSS px). The fake camera captures 640×480 at`,
          '20 fps (Chromium\'s default), so 20 fps is the full layer\'s ceiling here (`maxFramerate` 30; webcams typically capture 30).',
          `Invigilator CPU meanwhile: renderer ${pct(mo.renderer)}, main thread ${pct(mo.mainThread)}, all its processes ${pct(mo.invigilatorTotal)}; whole machine`,
          `${pct(mo.machineCores)} of ${cores * 100} %.${mo.othersFpsMedian !== null && mo.othersFpsMedian < 9.5 ? ` The machine was short of CPU meanwhile: the thumbnails fell to ${f1(mo.othersFpsMedian)} fps and the full layer` : ''}`,
          mo.othersFpsMedian !== null && mo.othersFpsMedian < 9.5
            ? `reached ${f1(mo.full.fps)} of its 20 fps, so these kbit/s are a little low. Closing the modal puts the student back on the thumbnail layer.`
            : 'Closing the modal puts the student back on the thumbnail layer.',
        ].join('\n')
      : 'The modal could not be measured (see the console output of the run).',
    '',
    `### Extrapolation to ${EXTRAPOLATE_TO} students (not measured)`,
    '',
    `Least-squares line through the measured steps with students at 10 fps (N = ${fitNs}), evaluated at N = ${EXTRAPOLATE_TO}:`,
    '',
    `- **Downlink: ${f0(fitDown.a)} + ${f1(fitDown.b)}·N kbit/s → ≈ ${f0(at(fitDown))} kbit/s (${mbit(at(fitDown))} Mbit/s)** RTP payload, ≈ ${mbit(at(fitWire))} Mbit/s`,
    '  on the wire. This part is safely linear: every student is an independent connection on the same layer, and the',
    '  per-student rate did not change with N.',
    mo
      ? `  A student open in the modal adds ≈ ${f0(modalExtra)} kbit/s (its full layer, ${f0(mo.full.kbps)}, instead of a thumbnail): ≈ ${mbit(at(fitDown) + modalExtra)} Mbit/s in all.`
      : null,
    haveCpu
      ? `- **Invigilator CPU: renderer ${pct(fitRenderer.a)} + ${f1(fitRenderer.b * 100)} %·N → ≈ ${pct(at(fitRenderer))} of one core**; all its processes (renderer, software`
      : null,
    haveCpu ? `  compositing in the GPU process, network service) ${pct(fitInv.a)} + ${f1(fitInv.b * 100)} %·N → ≈ ${pct(at(fitInv))}. Less certain than the downlink: the` : null,
    haveCpu
      ? '  points were taken on a busy machine, compositing 30 videos may not stay linear, the figures are for this machine\'s\n  cores, and hardware decoding (off here: `--disable-gpu`) would be cheaper.'
      : null,
    `- What would limit 30: the invigilator's **downlink** (≈ ${mbit(at(fitDown) + (modalExtra ?? 0))} Mbit/s sustained with one student open: fine on a`,
    '  wired or good Wi-Fi link, tight on a weak one; on loopback there was no bandwidth limit, loss or delay to react',
    `  to) and its **CPU**${haveCpu ? ` (≈ ${pct(at(fitInv))} of one of these cores for all its processes)` : ''}. The thumbnail layer sets no`,
    '  `maxBitrate` (only `scaleResolutionDownBy` 2 and `maxFramerate` 10), so its bitrate is what the encoder wants for',
    '  the picture: the fake camera\'s synthetic pattern is easier to encode than a real camera image, so real students may',
    '  cost more each.',
    `- Why not measured at ${EXTRAPOLATE_TO}: this machine (${cores} cores) also runs every student's browser (capture, encoding, page). The`,
    `  students' browsers used ${pct(last.students)} at N = ${maxN} (≈ ${pct(studentCpu)} per student: fake capture, VP8 encoding, the take page), so`,
    '  the machine, not the invigilator page, is what runs out. Each student also uploads one stream per invigilator',
    '  (two invigilators: two encodes), which this benchmark does not add up.',
    '',
    'How it is measured:',
    '',
    '- Real UI, as in `end2end/tests/proctor.spec.ts`: each student opens `/tests/<id>/take` and clicks *Turn on camera and',
    '  start* (fake camera and microphone); the teacher opens the grid once, at the first step, and keeps it open while',
    '  more students start; a step counts once every started student\'s card is live and its `thumbnail` video plays (size',
    '  > 0, `currentTime` advancing). Accounts, the test and its members are made through the server functions',
    '  (`/api/signup`, `/api/create_test`, `/api/add_member`) with `fetch` from each browser context.',
    '- Downlink: an init script wraps `window.RTCPeerConnection` before the app loads, so every connection the app makes',
    '  lands in `window.__pcs`; once a second the script reads their `getStats()`: `inbound-rtp` `bytesReceived` (RTP',
    '  payload, video and audio), `framesDecoded` (fps = frames decoded over the window), `frameWidth`/`frameHeight`,',
    '  `totalDecodeTime`, and the `transport`\'s `bytesReceived` (everything that came over UDP: SRTP with RTP headers, RTCP,',
    '  STUN). Rates are deltas over the window divided by its length.',
    '- CPU: `/proc/<pid>/stat` (utime + stime) over the window. The invigilator runs alone in its own Chromium, so its',
    '  processes are known: "renderer" is the busiest renderer process of that browser (the grid page: WebRTC receive,',
    '  decoding, the app), "all processes" adds the browser, GPU (software compositing) and network-service processes.',
    '  "Main thread (CDP)" is `Performance.getMetrics` `TaskDuration` over wall time (the app\'s WASM, layout, paint;',
    `  decoding runs on other threads). The students use ${Math.ceil(maxN / STUDENTS_PER_BROWSER)} other Chromium instance(s), at most ${STUDENTS_PER_BROWSER} students each (Chromium's`,
    '  audio service opens at most 16 capture streams; the 17th student in one browser gets "device busy"). Whole',
    '  machine: CPUs × wall time − idle time from `/proc/uptime`; "other work" is what is left after the invigilator,',
    '  the students and the server.',
    `- Build: release, ${r.build}; checkout ${r.commit} at the time of the run.`,
    `- Server: a copy of \`target/release/onair\` and \`target/site\` taken at the start, \`--bind 127.0.0.1:${PORT}\`, \`RUST_LOG=warn\`, fresh database`,
    '  `onair_bench_grid`. Network: loopback, host candidates only (no STUN/TURN).',
    `- Machine: ${r.m.nproc} CPUs (\`nproc\`), ${r.m.model}, ${r.m.ram} RAM, kernel ${r.m.kernel}; Debian Chromium ${r.m.chromium}`,
    `  (headless, launch args as in \`end2end/playwright.config.ts\`), Node ${r.m.node}. In the 3 s before the run the machine was`,
    `  ${pct(r.busyBefore)} of ${cores * 100} % busy with other work${r.busyBefore >= 0.25 ? ' (see "other work" for during the run)' : ''}.`,
    END_MARKER,
    '',
  ];
  return lines.filter((l) => l !== null).join('\n');
}

/**
 * Replaces this script's section (from its heading to END_MARKER, or to the next "## " heading if the marker is
 * gone) in the file as it is on disk now; appends it at the end if missing. Nothing else is touched.
 */
function writeDoc(sectionText) {
  let doc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '# Benchmarks\n';
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l.trim() === SECTION_TITLE);
  if (start === -1) {
    doc = `${doc.replace(/\n*$/, '\n\n')}${sectionText}`;
  } else {
    let end = lines.findIndex((l, i) => i > start && l.trim() === END_MARKER);
    if (end === -1) {
      end = lines.findIndex((l, i) => i > start && /^##?\s/.test(l));
      if (end === -1) end = lines.length;
    } else {
      end += 1;
    }
    const before = lines.slice(0, start).join('\n');
    const after = lines.slice(end).join('\n').replace(/^\n+/, '');
    doc = `${before}${before ? '\n' : ''}${sectionText.replace(/\n*$/, '\n')}${after ? `\n${after}` : ''}`;
  }
  writeFileSync(docPath, doc.replace(/\n*$/, '\n'));
}

// ---------------------------------------------------------------------------------------------------

function printStep(s, rows) {
  console.log(`\nN = ${s.n}: ${s.streaming} streams received over ${s.seconds.toFixed(1)} s`);
  console.log(
    `  downlink ${f0(s.totalKbps)} kbit/s RTP payload (video ${f0(s.videoKbps)}, audio ${f0(s.audioKbps)}; RTP headers +${f0(s.headerKbps)}), ` +
      `transport ${f0(s.transportKbps)} kbit/s; per student median ${f0(s.perStudentMedian)} (${f0(s.perStudentMin)}–${f0(s.perStudentMax)})`,
  );
  console.log(`  video ${s.sizes}, fps median ${f1(s.fpsMedian)} (${f1(s.fpsMin)}–${f1(s.fpsMax)}), decode ${f0(s.decodeMsPerS)} ms/s, loss ${s.lossPct.toFixed(2)} %, ${s.codec} / ${s.decoder}`);
  console.log(
    `  CPU: invigilator renderer ${pct(s.renderer)} (all renderers ${pct(s.renderersAll)}), main thread (CDP) ${pct(s.mainThread)}, ` +
      `GPU ${pct(s.gpu)}, network ${pct(s.network)}, browser ${pct(s.browserProc)}, invigilator total ${pct(s.invigilatorTotal)}; ` +
      `students ${pct(s.students)}, server ${pct(s.server)}, machine ${f1(s.machineCores)} cores (${pct(s.machineFraction)})`,
  );
  console.log(`  1-s total downlink samples: ${s.series.map((x) => f0(x)).join(' ')}`);
  console.log(`  invigilator processes: ${s.invigilatorProcs.map((p) => `${p.role} ${p.pid} ${pct(p.cores)}`).join(', ')}`);
  for (const r of rows.sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''))) {
    console.log(
      `    ${(r.name ?? `pc#${r.pc}`).padEnd(14)} ${f0(r.kbps).padStart(5)} kbit/s (video ${f0(r.videoKbps)}, audio ${f0(r.audioKbps)})  ` +
        `${r.width}×${r.height} @ ${f1(r.fps)} fps (stats ${f1(r.statsFps)})  decode ${f1(r.decodeMsPerS)} ms/s`,
    );
  }
}

/**
 * Opens `who` in the modal (full layer), measures like a grid step, closes the modal and waits until that
 * student is back on the thumbnail layer. Returns the modal's numbers.
 */
async function measureModal(t, cdp, roots, who, n, gridRows) {
  const thumbWidth = gridRows.find((r) => r.name === who.name)?.width ?? 0;
  const modalWidth = () => t.evaluate(() => document.querySelector('video[data-testid="modal-video"]')?.videoWidth ?? 0);
  const c0 = Date.now();
  await t.getByRole('button', { name: `Watch ${who.name}`, exact: true }).click();
  await t.getByTestId('student-modal').waitFor({ state: 'visible', timeout: 10_000 });
  let switchMs = null;
  while (Date.now() - c0 < 20_000) {
    if (thumbWidth > 0 && (await modalWidth()) > thumbWidth) {
      switchMs = Date.now() - c0;
      break;
    }
    await sleep(100);
  }
  log(`modal open on ${who.name}; full layer ${switchMs !== null ? `after ${switchMs} ms` : 'not seen within 20 s'}; settling ${SETTLE_S} s, then measuring ${MEASURE_S} s`);
  await sleep(SETTLE_S * 1000);
  const meas = await measure(t, cdp, roots);
  const view = await t.evaluate(pageCards);
  const rows = perStudent(meas, view.cards);
  const fullRow = rows.find((r) => r.track && r.track === view.modal?.track) ?? rows.find((r) => r.name === who.name);
  const others = rows.filter((r) => r !== fullRow);
  const s = summarizeStep(n, meas, rows);
  console.log(`\nModal open on ${who.name} (modal video shown at ${view.modal?.shownWidth}×${view.modal?.shownHeight} CSS px):`);
  printStep(s, rows);

  // Close it; the student goes back to the thumbnail layer.
  await t.getByTestId('student-modal').getByRole('button', { name: 'Close' }).click();
  await t.getByTestId('student-modal').waitFor({ state: 'detached', timeout: 10_000 });
  const card = t.getByTestId('student-card').filter({ hasText: who.name }).getByTestId('thumbnail');
  const back0 = Date.now();
  while (Date.now() - back0 < 20_000) {
    if ((await card.evaluate((v) => v.videoWidth)) <= thumbWidth) break;
    await sleep(200);
  }
  log(`modal closed; ${who.name} back on the thumbnail layer after ${Date.now() - back0} ms`);
  if (!fullRow) return null;
  return {
    n,
    full: fullRow,
    othersMedianKbps: median(others.map((r) => r.kbps)),
    othersFpsMedian: median(others.map((r) => r.fps)),
    othersSizes: sizes(others),
    totalKbps: s.totalKbps,
    transportKbps: s.transportKbps,
    switchMs,
    renderer: s.renderer,
    mainThread: s.mainThread,
    invigilatorTotal: s.invigilatorTotal,
    machineCores: s.machineCores,
    shownModal: view.modal ? `${view.modal.shownWidth}×${view.modal.shownHeight}` : '?',
  };
}

async function main() {
  if (!Number.isInteger(STUDENTS) || STUDENTS < 1) throw new Error(`STUDENTS must be a positive integer, got ${process.env.STUDENTS}`);
  if (!Number.isInteger(STEP) || STEP < 1) throw new Error(`STEP must be a positive integer, got ${process.env.STEP}`);
  if (!existsSync('/usr/bin/chromium')) throw new Error('/usr/bin/chromium is missing: run `make test` (it installs Debian chromium)');
  const tck = Number(sh('getconf', ['CLK_TCK']) ?? CLK_TCK);
  if (tck !== CLK_TCK) throw new Error(`CLK_TCK is ${tck}, this script assumes ${CLK_TCK}`);
  const steps = [];
  for (let n = STEP; n < STUDENTS; n += STEP) steps.push(n);
  steps.push(STUDENTS);

  await snapshotBuild();
  const idle0 = machineTime();
  await sleep(3_000);
  const idle1 = machineTime();
  const busyBefore = Math.max(0, os.cpus().length - (idle1.idle - idle0.idle) / (idle1.uptime - idle0.uptime));
  const bin = statSync(serverBinary, { throwIfNoEntry: false });
  const wasm = statSync(path.join(siteRoot, 'pkg', 'onair.wasm'), { throwIfNoEntry: false });
  const build = [
    bin ? `server binary built ${bin.mtime.toISOString().replace(/\.\d+Z$/, 'Z')}` : null,
    wasm ? `WASM ${(wasm.size / 1024).toFixed(0)} KiB uncompressed, built ${wasm.mtime.toISOString().replace(/\.\d+Z$/, 'Z')}` : null,
    process.env.ONAIR_SITE_ROOT ? `site served from \`${process.env.ONAIR_SITE_ROOT}\` (ONAIR_SITE_ROOT), not target/site` : null,
    existsSync(path.join(siteRoot, 'pkg', 'onair_bg.wasm'))
      ? 'with the WASM also as `pkg/onair_bg.wasm`, the name a server binary built by plain `cargo build --release` (not cargo-leptos) asks for'
      : null,
  ]
    .filter(Boolean)
    .join(', ');
  const buildInputs = ['src', 'style', 'public', 'migrations', '.sqlx', 'Cargo.toml', 'Cargo.lock'];
  const dirty = sh('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no', '--', ...buildInputs]);
  const commit = `\`${sh('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']) ?? 'unknown'}\`${dirty ? ' (with uncommitted changes to the sources)' : ''}`;

  await startServer();
  // Chromium's audio service opens at most 16 input streams at once (AudioManagerBase's default), and every
  // student captures camera and microphone: the 17th in one browser gets "device busy". So at most
  // STUDENTS_PER_BROWSER students share one browser (real students have one each anyway).
  const studentBrowsers = [];
  for (let i = 0; i < Math.ceil(STUDENTS / STUDENTS_PER_BROWSER); i += 1) studentBrowsers.push(await launchBrowser(`students' #${i + 1}`));
  const invigilatorBrowser = await launchBrowser('invigilator\'s');
  try {
    const m = machine(invigilatorBrowser.browser.version());
    const roots = { invigilator: invigilatorBrowser.pid, students: studentBrowsers.map((b) => b.pid), server: server.pid };

    log(`signing up a teacher and ${STUDENTS} students`);
    const teacher = await account(invigilatorBrowser.browser, 'bench_teacher', 'Tess Teacher');
    const students = [];
    for (let i = 1; i <= STUDENTS; i += 1) {
      const { browser } = studentBrowsers[Math.floor((i - 1) / STUDENTS_PER_BROWSER)];
      students.push(await account(browser, 'bench_stu', `Student ${String(i).padStart(2, '0')}`));
    }
    const testId = await callApi(teacher.page, 'create_test', {
      title: `Grid benchmark ${new Date().toISOString()}`,
      instructions: 'Benchmark.',
      starts_at: '',
      ends_at: '',
      duration_minutes: '',
      questions: 'What is 2 + 2?\nName a prime number.',
    });
    const testPath = `/tests/${testId}`;
    for (const s of students) await callApi(teacher.page, 'add_member', { test: testId, username: s.username, role: 'student' });
    log(`test ${testPath} with ${STUDENTS} students`);

    const t = teacher.page;
    await t.addInitScript(recordPeerConnections);
    const cdp = await t.context().newCDPSession(t);
    await cdp.send('Performance.enable', { timeDomain: 'timeTicks' });

    const results = [];
    let started = 0;
    let gridOpen = false;
    let shownThumb = '?';
    let modal = null;
    // The modal is measured at the first step with at least MODAL_AT students (default 10), where the machine still
    // keeps every student at 10 fps; then it is closed and the steps go on.
    const modalStep = steps.find((n) => n >= Math.min(MODAL_AT, STUDENTS)) ?? steps[steps.length - 1];
    for (const n of steps) {
      for (; started < n; started += 1) {
        const s0 = Date.now();
        await startStudent(students[started], testPath);
        log(`${students[started].name} is live (${Date.now() - s0} ms)`);
      }
      if (!gridOpen) {
        await gotoHydrated(t, `${testPath}/invigilate`);
        gridOpen = true;
      }
      const names = students.slice(0, n).map((s) => s.name);
      const w0 = Date.now();
      await waitThumbnailsPlaying(t, names);
      log(`N = ${n}: all ${n} thumbnails play (${Date.now() - w0} ms); settling ${SETTLE_S} s, then measuring ${MEASURE_S} s`);
      await sleep(SETTLE_S * 1000);
      const meas = await measure(t, cdp, roots);
      const { cards } = await t.evaluate(pageCards);
      const shown = cards.find((c) => c.shownWidth > 0);
      if (shown) shownThumb = `${shown.shownWidth}×${shown.shownHeight}`;
      const rows = perStudent(meas, cards);
      const s = summarizeStep(n, meas, rows);
      if (s.streaming !== n) log(`warning: ${s.streaming} streams carried media, expected ${n}`);
      printStep(s, rows);
      results.push(s);
      if (n === modalStep) {
        try {
          modal = await measureModal(t, cdp, roots, students[0], n, rows);
        } catch (e) {
          log(`the modal measurement failed: ${e.message}`);
        }
      }
    }

    const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const text = section({ date, m, steps: results, modal, build, commit, busyBefore, shownThumb });
    console.log(`\n${text}`);

    if (STUDENTS >= MIN_STUDENTS_FOR_DOC) {
      writeDoc(text);
      console.log(`wrote the "${SECTION_TITLE.slice(3)}" section of ${path.relative(repoRoot, docPath)}`);
    } else {
      console.log(`not writing ${path.relative(repoRoot, docPath)}: it needs STUDENTS >= ${MIN_STUDENTS_FOR_DOC}`);
    }
  } finally {
    await invigilatorBrowser.browser.close().catch(() => {});
    for (const b of studentBrowsers) await b.browser.close().catch(() => {});
    await stopServer();
    removeSnapshot();
  }
}

main().then(
  () => process.exit(0),
  async (e) => {
    console.error(`\nerror: ${e.stack ?? e.message}`);
    await stopServer();
    removeSnapshot();
    process.exit(1);
  },
);
