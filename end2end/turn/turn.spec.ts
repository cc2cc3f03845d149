import { chromium, expect, test, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { createHmac } from 'node:crypto';
import { expectSignedInAs, goLiveWithForm, gotoHydrated, signUp, uniqueName } from '../tests/helpers';

// Issue #8, the TURN-only test. scripts/turn-test.sh (make turn-test) runs it: Chromium in namespace alice and
// Chromium in namespace bob cannot reach each other, only the `turn` namespace, where coturn (use-auth-secret)
// and the onair release server (--turn-urls, --turn-secret) run. So a seller in alice and a shopper in bob can
// only get video across through the relay, with the credentials the server hands out, whichever way the page
// receives them. And coturn refuses an expired credential with 401.

function env(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run this suite with 'make turn-test' (scripts/turn-test.sh), which sets up the namespaces`);
  }
  return value;
}

const baseURL = env('ONAIR_TURN_BASE_URL');
const signalingIp = env('ONAIR_TURN_SIGNALING_IP');
const relayIp = env('ONAIR_TURN_RELAY_IP');
const turnUrl = env('ONAIR_TURN_URL_UDP');
const secret = env('ONAIR_TURN_TEST_SECRET');
const chromiumIn = { alice: env('ONAIR_TURN_CHROMIUM_ALICE'), bob: env('ONAIR_TURN_CHROMIUM_BOB') };

const PASSWORD = 'correct-horse-battery-9';

// The flags of the normal suite, without --allow-loopback-in-peer-connection, plus: the signaling origin is a
// plain-HTTP address that is not localhost, so it must count as secure for getUserMedia; and no host name
// lookups leave the browser (there is no DNS in the namespaces).
const chromiumArgs = [
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
  `--unsafely-treat-insecure-origin-as-secure=${baseURL}`,
  `--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE ${signalingIp}`,
];

async function launchIn(ns: 'alice' | 'bob'): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumIn[ns], args: chromiumArgs, timeout: 30_000 });
}

/** Keeps a reference to every RTCPeerConnection the page makes (in `window.__turnTestPcs`), so the test can read
 *  their stats without any hook in the app. */
function keepPeerConnections(): void {
  const Native = window.RTCPeerConnection;
  const pcs: RTCPeerConnection[] = [];
  (window as unknown as { __turnTestPcs: RTCPeerConnection[] }).__turnTestPcs = pcs;
  window.RTCPeerConnection = new Proxy(Native, {
    construct(target, args, newTarget) {
      const pc = Reflect.construct(target, args, newTarget) as RTCPeerConnection;
      pcs.push(pc);
      return pc;
    },
  });
}

async function newContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({ baseURL, permissions: ['camera', 'microphone'] });
  await context.addInitScript(keepPeerConnections);
  return context;
}

async function newUser(browser: Browser, prefix: string, displayName: string): Promise<Page> {
  const page = await (await newContext(browser)).newPage();
  await signUp(page, { username: uniqueName(prefix), displayName, password: PASSWORD });
  await expectSignedInAs(page, displayName);
  return page;
}

interface PairInfo {
  connectionState: string;
  turnUsernames: string[];
  state?: string;
  local?: { type: string; address: string; protocol: string; relayProtocol?: string };
  remote?: { type: string; address: string; protocol: string };
}

/** For each connected RTCPeerConnection of the page: the TURN user names it was configured with and its selected
 *  candidate pair (from the transport's selectedCandidatePairId, else the nominated succeeded pair). */
async function selectedPairs(page: Page): Promise<PairInfo[]> {
  return page.evaluate(async () => {
    const pcs = (window as unknown as { __turnTestPcs?: RTCPeerConnection[] }).__turnTestPcs ?? [];
    const out: PairInfo[] = [];
    for (const pc of pcs) {
      if (pc.connectionState !== 'connected') continue;
      const turnUsernames = (pc.getConfiguration().iceServers ?? [])
        .filter((s) => [s.urls].flat().some((u) => u.startsWith('turn:') || u.startsWith('turns:')))
        .map((s) => s.username ?? '');
      const stats = await pc.getStats();
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const all: any[] = [];
      stats.forEach((s) => all.push(s));
      let pairId = all.find((s) => s.type === 'transport' && s.selectedCandidatePairId)?.selectedCandidatePairId;
      pairId ??= all.find((s) => s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated)?.id;
      const byId = (id: string | undefined) => (id ? all.find((s) => s.id === id) : undefined);
      const pair = byId(pairId);
      const local = byId(pair?.localCandidateId);
      const remote = byId(pair?.remoteCandidateId);
      out.push({
        connectionState: pc.connectionState,
        turnUsernames,
        state: pair?.state,
        local: local && { type: local.candidateType, address: local.address, protocol: local.protocol, relayProtocol: local.relayProtocol },
        remote: remote && { type: remote.candidateType, address: remote.address, protocol: remote.protocol },
      });
    }
    return out;
  });
}

/** The page's connected peer connections all run over the TURN relay: the selected pair has succeeded and at
 *  least one of its candidates is a relay candidate on the relay's address (a direct pair cannot work here). */
async function expectRelayed(page: Page, who: string): Promise<PairInfo[]> {
  let pairs: PairInfo[] = [];
  await expect
    .poll(async () => {
      pairs = await selectedPairs(page);
      return pairs.length > 0 && pairs.every((p) => p.state === 'succeeded');
    }, { message: `${who}: a connected peer connection with a succeeded selected pair`, timeout: 15_000 })
    .toBe(true);
  for (const p of pairs) {
    const relayed = [p.local, p.remote].filter((c) => c?.type === 'relay');
    expect(relayed.length, `${who}: selected pair ${JSON.stringify(p)} has a relay candidate`).toBeGreaterThan(0);
    for (const c of relayed) expect(c!.address, `${who}: relay candidate on the relay's address`).toBe(relayIp);
    // The server issued TURN REST credentials: "<expiry>:<user id>", expiring within the hour.
    expect(p.turnUsernames.length, `${who}: the peer connection got TURN credentials`).toBeGreaterThan(0);
    const now = Date.now() / 1000;
    for (const u of p.turnUsernames) {
      const expiry = Number(u.split(':')[0]);
      expect(expiry, `${who}: TURN user name ${u} expires in the future`).toBeGreaterThan(now);
      expect(expiry, `${who}: TURN user name ${u} expires within the hour`).toBeLessThanOrEqual(now + 3600 + 60);
    }
  }
  return pairs;
}

/** The shopper's remote video plays: it has a frame size, its clock advances, and the player is connected. */
async function expectPlaying(page: Page): Promise<void> {
  const video = page.getByTestId('remote-video');
  await expect(page.getByTestId('player')).toHaveAttribute('data-status', 'connected', { timeout: 30_000 });
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.videoWidth), { timeout: 15_000 }).toBeGreaterThan(0);
  const t0 = await video.evaluate((v: HTMLVideoElement) => v.currentTime);
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.currentTime), { timeout: 10_000 }).toBeGreaterThan(t0);
  await expect(page.getByTestId('watch-status')).toHaveText('Connected');
}

/** Closes every peer connection the pages made: coturn otherwise keeps their allocations for 10 minutes. */
async function closePeerConnections(pages: Page[]): Promise<void> {
  for (const page of pages) {
    await page
      .evaluate(() => ((window as unknown as { __turnTestPcs?: RTCPeerConnection[] }).__turnTestPcs ?? []).forEach((pc) => pc.close()))
      .catch(() => undefined);
  }
}

test('a seller in alice goes live and a shopper in bob watches, through the TURN relay only', async () => {
  test.setTimeout(150_000);
  const title = `Relayed cameras ${uniqueName('t')}`;
  const alice = await launchIn('alice');
  const bob = await launchIn('bob');
  const pages: Page[] = [];
  try {
    const seller = await newUser(alice, 'seller', 'Sam Seller');
    const shopper = await newUser(bob, 'shopper', 'Ada Shopper');
    pages.push(seller, shopper);

    const streamPath = await goLiveWithForm(seller, {
      title,
      description: 'Only reachable through the relay.',
      category: 'Collectibles',
    });

    await gotoHydrated(shopper, streamPath);
    await expect(shopper.getByRole('heading', { name: title })).toBeVisible();
    await expectPlaying(shopper);
    await expect(seller.getByTestId('viewer-count')).toHaveText('1');

    const shopperPairs = await expectRelayed(shopper, 'shopper in bob');
    const sellerPairs = await expectRelayed(seller, 'seller in alice');
    console.log(`selected pairs: shopper ${JSON.stringify(shopperPairs)}; seller ${JSON.stringify(sellerPairs)}`);

    await seller.getByRole('button', { name: 'End stream' }).click();
    await expect(seller.getByTestId('seller-ended')).toBeVisible();
    await expect(shopper.getByTestId('player')).toHaveAttribute('data-status', 'ended');
  } finally {
    await closePeerConnections(pages);
    await alice.close();
    await bob.close();
  }
});

/** TURN REST API credentials (draft-uberti-behave-turn-rest-00), as the server makes them. */
function turnCredentials(expiry: number, user: string): { username: string; credential: string } {
  const username = `${expiry}:${user}`;
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') };
}

interface Gathered {
  candidates: string[];
  errors: { errorCode: number; errorText: string; url: string }[];
  gatheringState: string;
}

/** Gathers ICE candidates in the page with only this TURN server and iceTransportPolicy 'relay' (at most 10 s). */
async function gatherRelay(page: Page, creds: { username: string; credential: string }): Promise<Gathered> {
  return page.evaluate(
    async ({ url, username, credential }) => {
      const pc = new RTCPeerConnection({ iceServers: [{ urls: [url], username, credential }], iceTransportPolicy: 'relay' });
      const candidates: string[] = [];
      const errors: { errorCode: number; errorText: string; url: string }[] = [];
      pc.onicecandidate = (e) => {
        if (e.candidate?.candidate) candidates.push(e.candidate.candidate);
      };
      pc.onicecandidateerror = (e) => {
        const err = e as RTCPeerConnectionIceErrorEvent;
        errors.push({ errorCode: err.errorCode, errorText: err.errorText, url: err.url });
      };
      pc.createDataChannel('probe');
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 10_000);
        const done = () => {
          if (pc.iceGatheringState === 'complete') {
            clearTimeout(timer);
            resolve();
          }
        };
        pc.onicegatheringstatechange = done;
        done();
      });
      const gatheringState = pc.iceGatheringState;
      pc.close();
      return { candidates, errors, gatheringState };
    },
    { url: turnUrl, ...creds },
  );
}

test('an expired TURN credential is refused with 401 and gives no relay candidate', async () => {
  const alice = await launchIn('alice');
  try {
    const page = await alice.newPage();
    await page.goto(`${baseURL}/healthz`);
    const now = Math.floor(Date.now() / 1000);

    const expired = await gatherRelay(page, turnCredentials(now - 3600, 'turn-test-expired'));
    expect(expired.errors.map((e) => e.errorCode), `errors ${JSON.stringify(expired.errors)}`).toContain(401);
    expect(expired.candidates.filter((c) => / typ relay /.test(c))).toEqual([]);

    // The same credential with an expiry in the future works: the 401 came from the expiry alone.
    const valid = await gatherRelay(page, turnCredentials(now + 600, 'turn-test-valid'));
    expect(valid.errors.map((e) => e.errorCode)).not.toContain(401);
    expect(valid.candidates.filter((c) => / typ relay /.test(c)).length, `candidates ${JSON.stringify(valid.candidates)}`).toBeGreaterThan(0);
    console.log(
      `expired credential: errors ${JSON.stringify(expired.errors)}, ${expired.candidates.length} candidates; ` +
        `valid one: ${valid.candidates.filter((c) => / typ relay /.test(c)).length} relay candidates`,
    );
  } finally {
    await alice.close();
  }
});
