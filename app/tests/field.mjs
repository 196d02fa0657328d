// The field app in headless Chromium against a seeded cluster: what a worker, a supervisor and a
// ceremony scanner officer do with it on their phones. Run by the Rust end-to-end test
// `field_app` (tests/e2e/field_app.rs), which starts the services, seeds them and then checks
// what arrived; it passes the seeded names and ids as JSON in PANTAU_FIELD_TEST:
//
//   { app, chromium, shots, profile, password, worker: {login, name}, supervisor: {login},
//     scanner: {token, session, title}, printed: {code, name}, site: {lat, lon},
//     quantity, points }
//
// The browser's own test flags stand in for the phone's hardware: geolocation is set on the
// context, and the camera is Chromium's fake capture device, fed a y4m file of a QR code.
// Screenshots of each screen go to `shots`. Exits non-zero, naming the step, on any failure.
import { chromium } from "playwright-core";
import QRCode from "qrcode";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const cfg = JSON.parse(process.env.PANTAU_FIELD_TEST ?? "{}");
const PHONE = { width: 360, height: 740 };
const TIMEOUT = 20_000;
// The frame the fake camera plays: a 640x480 greyscale picture, a QR code in its middle.
const W = 640;
const H = 480;

let step = "start";
/** The page in use, for a screenshot when a step fails. */
let current = null;
const log = (msg) => process.stderr.write(`field app: ${msg}\n`);
const begin = (name) => {
  step = name;
  log(name);
};

mkdirSync(cfg.shots, { recursive: true });
let shot = 0;
async function screenshot(page, name) {
  current = page;
  shot += 1;
  const file = join(cfg.shots, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
}

function browserArgs(video) {
  const args = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--no-sandbox", "--disable-dev-shm-usage"];
  if (video) args.push(`--use-file-for-fake-video-capture=${video}`);
  return args;
}

const phone = {
  viewport: PHONE,
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  locale: "id-ID",
  timezoneId: "Asia/Makassar",
  permissions: ["geolocation", "camera"],
};

/** Fails unless the page fits the phone's width (no sideways scrolling). */
async function fitsThePhone(page, what) {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  if (width > PHONE.width) throw new Error(`${what} is ${width} px wide on a ${PHONE.width} px screen`);
}

async function login(page, loginId, password = cfg.password) {
  await page.goto(cfg.app);
  await page.getByTestId("login").waitFor();
  await page.fill("input[name=login_id]", loginId);
  await page.fill("input[name=password]", password);
  await page.click("[data-testid=login] button[type=submit]");
}

/**
 * A y4m file the fake camera plays: `svg` (a QR code) drawn white-on-black-free in the middle
 * of a white frame, rasterised by the browser itself, as 4:2:0 with no colour.
 */
async function y4m(page, svg, file) {
  const luma = await page.evaluate(
    async ({ svg, W, H }) => {
      const img = new Image();
      img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
      await img.decode();
      const c = document.createElement("canvas");
      c.width = W;
      c.height = H;
      const ctx = c.getContext("2d");
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, W, H);
      const side = Math.round(H * 0.9);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(img, (W - side) / 2, (H - side) / 2, side, side);
      const px = ctx.getImageData(0, 0, W, H).data;
      const y = new Uint8Array(W * H);
      for (let i = 0; i < W * H; i++) y[i] = Math.round(0.299 * px[4 * i] + 0.587 * px[4 * i + 1] + 0.114 * px[4 * i + 2]);
      let s = "";
      for (let i = 0; i < y.length; i += 0x8000) s += String.fromCharCode(...y.subarray(i, i + 0x8000));
      return btoa(s);
    },
    { svg, W, H },
  );
  const y = Buffer.from(luma, "base64");
  const chroma = Buffer.alloc((W / 2) * (H / 2), 128);
  const frame = Buffer.concat([Buffer.from("FRAME\n"), y, chroma, chroma]);
  const frames = Array.from({ length: 10 }, () => frame);
  writeFileSync(file, Buffer.concat([Buffer.from(`YUV4MPEG2 W${W} H${H} F10:1 Ip A1:1 C420jpeg\n`), ...frames]));
}

/** The scanned worker's portrait is on the verdict card, for the officer to compare faces. */
async function portraitShown(page) {
  await page.waitForFunction(() => {
    const img = document.querySelector("[data-testid=scan-result] img.face");
    return img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0;
  });
}

async function expectText(locator, pattern, what) {
  try {
    await locator.filter({ hasText: pattern }).first().waitFor({ timeout: TIMEOUT });
  } catch {
    const seen = await locator.allTextContents().catch(() => []);
    throw new Error(`${what}: wanted ${pattern}, the screen shows ${JSON.stringify(seen)}`);
  }
}

async function main() {
  const far = { latitude: cfg.site.lat + 0.01, longitude: cfg.site.lon, accuracy: 10 };
  const inside = { latitude: cfg.site.lat, longitude: cfg.site.lon, accuracy: 10 };

  // The worker's and the supervisor's phones; the camera is Chromium's own test pattern.
  const browser = await chromium.launch({ executablePath: cfg.chromium, headless: true, args: browserArgs() });
  const workerCtx = await browser.newContext({ ...phone, geolocation: far });
  workerCtx.setDefaultTimeout(TIMEOUT);
  const worker = await workerCtx.newPage();
  current = worker;
  const errors = [];
  worker.on("pageerror", (e) => errors.push(`worker page: ${e.message}`));

  begin("the login screen is in Indonesian, with an English switch");
  await worker.goto(cfg.app);
  await worker.getByTestId("login").waitFor();
  await expectText(worker.locator("[data-testid=login] h1"), /Masuk/, "the Indonesian login title");
  await screenshot(worker, "login-id");
  await worker.getByTestId("lang").click();
  await expectText(worker.locator("[data-testid=login] h1"), /Sign in/, "the English login title");
  await screenshot(worker, "login-en");
  await worker.getByTestId("lang").click();
  await fitsThePhone(worker, "the login screen");

  begin("a wrong password is refused on the login screen");
  await login(worker, cfg.worker.login, "not-the-password");
  await worker.locator("[data-testid=login] [role=alert]").waitFor();

  begin("the worker logs in with their generated id");
  await worker.fill("input[name=password]", cfg.password);
  await worker.click("[data-testid=login] button[type=submit]");
  await worker.getByTestId("worker").waitFor();
  await expectText(worker.locator("[data-testid=worker] h1"), new RegExp(cfg.worker.name), "the worker's greeting");
  await fitsThePhone(worker, "the worker screen");

  begin("checking in a kilometre from the site: recorded, outside");
  await worker.getByTestId("check-in").click();
  await worker.locator("[data-testid=checkin-result][data-inside=false]").waitFor();
  await screenshot(worker, "worker-checkin-outside");

  begin("checking in on the site: recorded, inside");
  await workerCtx.setGeolocation(inside);
  await worker.getByTestId("check-in").click();
  await worker.locator("[data-testid=checkin-result][data-inside=true]").waitFor();
  await screenshot(worker, "worker-checkin-inside");

  begin("the month before any approval: no points, no reports");
  await expectText(worker.getByTestId("points"), /^0$/, "points before the report");

  begin("the worker reports an activity with a photo from the camera");
  const form = worker.getByTestId("report-form");
  await form.locator("select[name=code] option").first().waitFor({ state: "attached" });
  await form.locator("input[name=quantity]").fill(String(cfg.quantity));
  await form.locator("textarea[name=description]").fill("Saluran depan taman dibersihkan");
  await worker.getByTestId("open-camera").click();
  await worker.waitForFunction(() => (document.querySelector(".camera video")?.videoWidth ?? 0) > 0);
  await worker.getByTestId("take-photo").click();
  await worker.getByTestId("photo-preview").waitFor();
  await screenshot(worker, "worker-report-form");
  await worker.getByTestId("send-report").click();
  await worker.getByTestId("report-message").waitFor();
  const sent = await worker.getByTestId("report-message").textContent();
  if (!/terkirim/i.test(sent ?? "")) throw new Error(`the report was not sent: ${sent}`);
  await worker.locator("[data-testid=my-reports] li[data-status=SUBMITTED]").waitFor();
  await screenshot(worker, "worker-report-sent");

  begin("the supervisor sees the report, with its photo, and approves it");
  const supCtx = await browser.newContext({ ...phone, geolocation: inside });
  supCtx.setDefaultTimeout(TIMEOUT);
  const sup = await supCtx.newPage();
  current = sup;
  sup.on("pageerror", (e) => errors.push(`supervisor page: ${e.message}`));
  await login(sup, cfg.supervisor.login);
  await sup.getByTestId("tab-supervisor").click();
  const item = sup.locator("[data-testid=queue] li[data-report]");
  const report = (id) => sup.locator(`[data-testid=queue] li[data-report="${id}"]`);
  await item.first().waitFor();
  await expectText(item, new RegExp(cfg.worker.name), "the queued report's worker");
  // Siti's report and Budi's (filed by the test through the API): the queue is a read model,
  // so a report filed a moment ago may need a refresh to show.
  const expected = 1 + 2 + cfg.review.bulk.length;
  for (let waited = 0; (await item.count()) !== expected; waited += 500) {
    if (waited > TIMEOUT) throw new Error(`the queue lists ${await item.count()} reports, not ${expected}`);
    await sup.waitForTimeout(500);
    await sup.getByTestId("refresh-queue").click();
  }
  await sup.waitForFunction(() => {
    const img = document.querySelector("[data-testid=queue] li[data-report] img");
    return img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0;
  });
  await sup.getByTestId("today-map").waitFor();
  await sup.locator("[data-testid=today-map] path.leaflet-interactive").first().waitFor();
  await expectText(sup.getByTestId("map-summary"), /[1-9]\d* absen tercatat, [1-9]/, "today's map counts the check-in inside the site");
  await fitsThePhone(sup, "the supervisor screen");
  await screenshot(sup, "supervisor-queue");
  const mine = item.filter({ hasText: cfg.worker.name });
  await mine.getByTestId("approve").click();
  await mine.waitFor({ state: "detached" });
  await expectText(sup.getByTestId("review-message"), /disetujui/i, "the approval's message");
  await screenshot(sup, "supervisor-approved");

  begin("the supervisor rejects one report and returns another, each with a reason");
  for (const [which, button, done] of [
    ["reject", "reject", /ditolak/i],
    ["return", "return", /dikembalikan/i],
  ]) {
    const r = report(cfg.review[which]);
    await r.getByTestId(button).click();
    // No decision without a reason: the button waits for one.
    if (await r.getByTestId("confirm-reason").isEnabled()) throw new Error(`${which}: the confirm button works without a reason`);
    await r.getByTestId("reason").fill(cfg.review.reason);
    if (which === "reject") await screenshot(sup, "supervisor-reject-reason");
    await r.getByTestId("confirm-reason").click();
    await r.waitFor({ state: "detached" });
    await expectText(sup.getByTestId("review-message"), done, `the ${which} message`);
  }

  begin("the supervisor approves the rest at once");
  for (const id of cfg.review.bulk) await report(id).locator("input[type=checkbox]").check();
  await expectText(sup.getByTestId("bulk-approve"), new RegExp(`\\b${cfg.review.bulk.length}\\b`), "the bulk button's count");
  await sup.getByTestId("bulk-approve").click();
  await item.first().waitFor({ state: "detached" });
  await expectText(sup.getByTestId("review-message"), new RegExp(`^${cfg.review.bulk.length} `), "the bulk approval's message");
  await screenshot(sup, "supervisor-bulk-approved");

  begin("the supervisor rates the worker's behaviour for the month");
  const rating = sup.getByTestId("rating");
  await rating.locator("select option").first().waitFor({ state: "attached" });
  await rating.locator("[role=radio]", { hasText: "5" }).first().click();
  await rating.locator("button[type=submit]").click();
  await rating.locator("[role=status].ok").waitFor();
  await screenshot(sup, "supervisor-rating");

  begin("the worker's points move after the approval");
  await worker.getByTestId("refresh-month").click();
  await expectText(worker.getByTestId("points"), new RegExp(`^${String(cfg.points).replace(".", ",")}$`), "points after the approval");
  await worker.locator("[data-testid=my-reports] li[data-status=APPROVED]").waitFor();
  await screenshot(worker, "worker-month-approved");

  begin("the worker's rotating code, full screen");
  await worker.getByTestId("show-qr").click();
  const qr = worker.locator("[data-testid=qr-code] svg");
  await qr.waitFor();
  await screenshot(worker, "worker-qr");
  const rotatingSvg = await qr.evaluate((el) => el.outerHTML);
  const rotatingVideo = join(cfg.profile, "..", "rotating.y4m");
  await y4m(worker, rotatingSvg, rotatingVideo);
  const printedVideo = join(cfg.profile, "..", "printed.y4m");
  await y4m(worker, await QRCode.toString(cfg.printed.code, { type: "svg", errorCorrectionLevel: "M", margin: 2 }), printedVideo);
  await browser.close();

  // The scanner officer's phone, twice: the app keeps its queue across restarts, and each
  // launch of Chromium plays one fake camera file.
  begin("the scanner is set up with its device token and picks the session");
  let scanner = await chromium.launchPersistentContext(cfg.profile, { ...phone, geolocation: inside, executablePath: cfg.chromium, headless: true, args: browserArgs(rotatingVideo) });
  scanner.setDefaultTimeout(TIMEOUT);
  let page = scanner.pages()[0] ?? (await scanner.newPage());
  current = page;
  page.on("pageerror", (e) => errors.push(`scanner page: ${e.message}`));
  await page.goto(cfg.app);
  await page.getByTestId("scanner-setup").click();
  await page.fill("input[name=device_token]", "not-a-token");
  await page.click("[data-testid=scanner-setup-form] button[type=submit]");
  await page.locator("[data-testid=scanner-setup-form] [role=alert]").waitFor();
  await page.fill("input[name=device_token]", cfg.scanner.token);
  await screenshot(page, "scanner-setup");
  await page.click("[data-testid=scanner-setup-form] button[type=submit]");
  const pick = page.locator(`[data-testid=sessions] button[data-session="${cfg.scanner.session}"]`);
  await pick.waitFor();
  await screenshot(page, "scanner-sessions");
  await pick.click();

  begin("online, the worker's rotating code is scanned and accepted with their name");
  await page.getByTestId("scanning").waitFor();
  await page.getByTestId("start-scan").click();
  await page.locator("[data-testid=scan-result][data-state=accepted]").waitFor();
  await expectText(page.locator("[data-testid=scan-result] [data-testid=scan-name]"), new RegExp(cfg.worker.name), "the accepted worker's name");
  await portraitShown(page);
  await page.locator("[data-testid=unsent][data-count='0']").waitFor();
  await fitsThePhone(page, "the scanner screen");
  await screenshot(page, "scanner-accepted");
  // Wait for the service worker to hold the app, so that it opens offline next time.
  try {
    await page.waitForFunction(async () => (await navigator.serviceWorker.getRegistration())?.active?.state === "activated");
  } catch {
    throw new Error("the app's service worker never became active, so the app would not open offline");
  }
  await scanner.close();

  begin("offline, the app opens from its cache and queues the printed code's scan");
  scanner = await chromium.launchPersistentContext(cfg.profile, { ...phone, geolocation: inside, executablePath: cfg.chromium, headless: true, args: browserArgs(printedVideo) });
  scanner.setDefaultTimeout(TIMEOUT);
  page = scanner.pages()[0] ?? (await scanner.newPage());
  current = page;
  page.on("pageerror", (e) => errors.push(`scanner page: ${e.message}`));
  // No network from the start, and nothing in the browser's HTTP cache: the page and its
  // scripts must come from the service worker's own cache.
  const cdp = await scanner.newCDPSession(page);
  await cdp.send("Network.clearBrowserCache");
  await cdp.detach();
  await scanner.setOffline(true);
  await page.goto(cfg.app);
  await page.getByTestId("scanning").waitFor();
  await page.locator("[data-testid=network].off").waitFor();
  await page.getByTestId("start-scan").click();
  await page.locator("[data-testid=scan-result][data-state=queued]").waitFor();
  await page.locator("[data-testid=unsent][data-count='1']").waitFor();
  // Several upload rounds pass while offline: the scan stays queued.
  await page.waitForTimeout(5000);
  await page.locator("[data-testid=unsent][data-count='1']").waitFor();
  await screenshot(page, "scanner-offline-queued");

  begin("back online, the queued scan is uploaded and accepted");
  await scanner.setOffline(false);
  await page.locator("[data-testid=network].on").waitFor();
  await page.locator("[data-testid=unsent][data-count='0']").waitFor();
  await page.locator("[data-testid=scan-result][data-state=accepted]").waitFor();
  await expectText(page.locator("[data-testid=scan-result] [data-testid=scan-name]"), new RegExp(cfg.printed.name), "the printed code's worker");
  await portraitShown(page);
  await page.getByTestId("stop-scan").click();
  // Every row's portrait, the one listed while offline too, once the network is back.
  try {
    await page.waitForFunction(() => {
      const faces = [...document.querySelectorAll("[data-testid=verdicts] .face")];
      return faces.length === 2 && faces.every((f) => f instanceof HTMLImageElement && f.complete && f.naturalWidth > 0);
    });
  } catch {
    throw new Error("the scanned workers' portraits are not all shown once back online");
  }
  await screenshot(page, "scanner-online-again");
  const rows = await page.locator("[data-testid=verdicts] [data-state=accepted]").count();
  if (rows !== 2) throw new Error(`the scanner lists ${rows} accepted scans, not 2`);
  await scanner.close();

  if (errors.length) throw new Error(`the pages threw: ${errors.join("; ")}`);
  log(`done; ${shot} screenshots in ${cfg.shots}`);
}

main().then(
  () => process.exit(0),
  async (e) => {
    log(`FAILED at "${step}": ${e?.stack ?? e}`);
    if (current) {
      const file = join(cfg.shots, "failed.png");
      await current.screenshot({ path: file, fullPage: true }).then(
        () => log(`the screen at the failure: ${file}`),
        () => undefined,
      );
    }
    process.exit(1);
  },
);
