// The administrator's pages in a real browser: sign in; upload a CSV with bad rows and
// see every bad line reported (nothing imported); plan and book a defense day and see
// the timeline; move a booking onto a clash and see it refused; verify the audit log.
// Usage: node admin.mjs <base-url> <admin-password>
import { launch, report, waitFor } from "./lib.mjs";

const [base, password] = process.argv.slice(2);
const browser = await launch();
const result = { ok: false };
await report(result, async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  await page.fill("#login input[name=password]", password);
  await page.click("#login button");
  await page.waitForSelector("nav.tabs");

  await page.goto(`${base}/#import`);
  await page.waitForSelector("form#import");
  await page.selectOption("form#import select[name=kind]", "experts");
  const bad = "姓名,邮箱,工作单位,专业领域\n张三,zhang@example.org,甲农业大学,作物\n李四,not-an-email,不存在的单位,果树\n";
  await page.setInputFiles("form#import input[type=file]", { name: "experts.csv", mimeType: "text/csv", buffer: Buffer.from(bad) });
  await page.click("form#import button");
  await page.waitForSelector("#import-report table tbody tr");
  result.importErrors = await page.locator("#import-report tbody tr").allTextContents();

  await page.goto(`${base}/#day`);
  await page.waitForSelector("#day fieldset");
  await page.fill("#day input[type=date]", "2026-12-01");
  await page.getByRole("button", { name: /排定并发送邀请|Book and invite/ }).click();
  await page.waitForSelector(".timeline .slot[data-code]");
  result.timeline = await page.locator(".timeline .slot[data-code]").evaluateAll((els) => els.map((e) => e.dataset.code));
  const bookings = await waitFor(async () => {
    const n = await page.locator("#day-bookings .booking").count();
    return { ok: n >= 2, n };
  }, 10_000);
  result.bookings = bookings;

  // Move the second booking onto the first one's time: the applicant is shared, so the
  // server refuses and the page says why.
  const rows = page.locator("#day-bookings .booking");
  result.lanes = await page.locator("#day-bookings .lane-row .lane").allTextContents();
  const firstTime = await rows.nth(0).locator("input").inputValue();
  await rows.nth(1).locator("input").fill(firstTime);
  await rows.nth(1).locator('button[data-action="move"]').click();
  await page.waitForSelector("#day-bookings span.error");
  result.moveRefusal = await page.locator("#day-bookings span.error").first().textContent();

  // The audit log lists the issued links and verifies.
  await page.goto(`${base}/#audit`);
  await page.click('[data-action="verify"]');
  await page.waitForSelector("#app p.ok, #app p.error");
  result.audit = await page.locator("#app p.ok, #app p.error").first().textContent();
  result.auditRows = await page.locator("#app table tbody tr").count();

  result.ok =
    /完整|intact/.test(result.audit ?? "") &&
    result.auditRows >= 1 &&
    result.importErrors.length >= 2 &&
    result.timeline.length >= 2 &&
    bookings?.ok === true &&
    /already booked|已/.test(result.moveRefusal ?? "");
}, async () => {
  await browser.close();
});
