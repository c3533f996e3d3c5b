// The stability dashboards in a real browser: the administrator lists sessions with
// their verdicts, opens one and sees its timelines drawn (one line per participant and
// direction, phase marks), narrows them to one kind of track, then the year's
// indicators as bars against targets.
// Usage: node dashboard.mjs <base-url> <admin-password> <session-id>
import { launch, report, waitFor } from "./lib.mjs";

const [base, password, sessionId] = process.argv.slice(2);
const browser = await launch();
const result = { ok: false };
await report(result, async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  await page.fill("#login input[name=password]", password);
  await page.click("#login button");
  await page.waitForSelector("nav.tabs");
  await page.goto(`${base}/#stability`);
  await page.locator(`a[data-session="${sessionId}"]`).click({ timeout: 10_000 });
  result.timeline = await waitFor(async () => {
    const lines = await page.locator("#stability-detail svg.chart polyline").count();
    const verdict = await page.locator("#stability-detail [data-verdict]").getAttribute("data-verdict").catch(() => null);
    return { ok: lines >= 4 && verdict === "true", lines, verdict };
  }, 10_000);
  // The track filter: the whole (every track pooled) is the sum of its sources.
  const select = page.locator("#stability-detail select[name=track]");
  result.sources = await select.locator("option").evaluateAll((os) => os.map((o) => o.value));
  const packets = async (source) => {
    await select.selectOption(source);
    return Number(await page.locator("#stability-detail .charts").getAttribute("data-packets"));
  };
  result.packets = { camera: await packets("camera"), microphone: await packets("microphone"), all: await packets("") };
  result.tracks = {
    ok: result.sources.join(",") === ",camera,microphone" && result.packets.camera > 0 && result.packets.microphone > 0
      && result.packets.all === result.packets.camera + result.packets.microphone,
  };
  result.rowVerdict = await page.locator("#stability-list .verdict-stable").count();
  await page.goto(`${base}/#year`);
  result.year = await waitFor(async () => {
    const bars = await page.locator("#year-indicators svg.chart rect.bar").count();
    const rows = await page.locator("#year-indicators table tbody tr").count();
    // A year with only a training session: one value (defenses held: 0), the rest shown as missing.
    return { ok: bars >= 1 && rows === 7, bars, rows };
  }, 10_000);
  result.ok = Boolean(result.timeline?.ok && result.tracks.ok && result.rowVerdict >= 1 && result.year?.ok);
}, async () => {
  await browser.close();
});
