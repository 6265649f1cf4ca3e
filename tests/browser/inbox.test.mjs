// End-to-end tests of the web inbox in Debian's headless Chromium, driven by playwright-core.
// They start the real `veil demo` (server + Cloud API simulator, SQLite) in a fresh directory,
// sign in with passwords and TOTP codes computed here, and act as customers through the
// simulator's `/_sim/inbound`. Run by scripts/test.sh; TEST_VEIL_BIN names the binary (not a
// `VEIL_*` name: Veil reads those as configuration), TEST_DEMO_DATABASE_URL a PostgreSQL database
// to run the demo on instead of SQLite.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const bin = process.env.TEST_VEIL_BIN || join(root, "target", "debug", "veil");
const shots = join(root, "docs", "screenshots");
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
];

let demo, info, browser, dataDir;
const lastStep = new Map();

// RFC 6238 TOTP (SHA-1, 30 s, 6 digits), for signing in as a person with an app would.
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of text.replace(/=+$/, "").toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}
function totp(secret, at = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30000)));
  const mac = createHmac("sha1", base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1000000;
  return value.toString().padStart(6, "0");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// An error that stops a `waitFor` at once instead of being retried.
class Fatal extends Error {}

async function waitFor(check, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      if (e instanceof Fatal) throw e;
      /* not yet */
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${typeof what === "function" ? what() : what}`);
    }
    await sleep(100);
  }
}

function user(email) {
  const found = info.users.find((u) => u.email === email);
  assert.ok(found, `demo user ${email}`);
  return found;
}

async function customerWrites(spec) {
  const response = await fetch(`${info.simulator_url}/_sim/inbound`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(spec),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).wamid;
}

// A context that records anything an injected script could do.
async function watchedContext(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 820 }, ...options });
  const events = [];
  await context.addInitScript(() => {
    window.__xss = [];
    for (const name of ["alert", "confirm", "prompt", "print"]) {
      window[name] = (...args) => window.__xss.push(`${name}:${args.join(",")}`);
    }
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__xss.push(`csp:${e.violatedDirective}:${e.blockedURI}`));
  });
  context.on("page", (page) => {
    page.on("dialog", (d) => { events.push(`dialog:${d.message()}`); d.dismiss().catch(() => {}); });
    page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") events.push(`console:${m.text()}`); });
    page.on("request", (r) => { if (!r.url().startsWith(info.url)) events.push(`request:${r.url()}`); });
  });
  return { context, events };
}

async function signIn(context, email, landing = /\/inbox/) {
  const person = user(email);
  const page = await context.newPage();
  await page.goto(`${info.url}/login`);
  await page.getByLabel(/E-mail/).fill(person.email);
  await page.locator('input[name="password"]').fill(person.password);
  await page.locator('form[action="/login"] button[type="submit"]').click();
  await page.waitForURL(/\/login\/2fa$/);
  // A code is accepted once per user and step: wait for a fresh step if this user signed in
  // during this one, or if it is close to its end.
  if ((Date.now() % 30000) > 27000) await sleep(3500);
  while (lastStep.get(email) === Math.floor(Date.now() / 30000)) await sleep(500);
  lastStep.set(email, Math.floor(Date.now() / 30000));
  await page.locator('input[name="code"]').fill(totp(person.totp_secret));
  await page.locator('form[action="/login/2fa"] button[type="submit"]').click();
  await page.waitForURL(landing);
  return page;
}

before(async () => {
  assert.ok(existsSync(bin), `build veil first (${bin})`);
  dataDir = mkdtempSync(join(tmpdir(), "veil-browser-"));
  // TEST_DEMO_DATABASE_URL runs the same tests with the demo on PostgreSQL.
  const database = process.env.TEST_DEMO_DATABASE_URL ? ["--database-url", process.env.TEST_DEMO_DATABASE_URL] : [];
  demo = spawn(bin, ["demo", "--no-traffic", "--port", "0", "--data-dir", dataDir, ...database], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: "warn" },
  });
  let stderr = "";
  demo.stderr.on("data", (d) => { stderr += d; });
  demo.stdout.on("data", (d) => { stderr += d; });
  const infoPath = join(dataDir, "demo.json");
  let exited = null;
  demo.once("exit", (code) => { exited = code; });
  info = await waitFor(async () => {
    if (exited !== null) throw new Fatal(`veil demo exited (${exited}): ${stderr}`);
    if (!existsSync(infoPath)) return null;
    const parsed = JSON.parse(readFileSync(infoPath, "utf8"));
    const health = await fetch(`${parsed.url}/healthz`);
    return health.ok ? parsed : null;
  }, () => `veil demo to start (${stderr})`, 60000);
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  if (browser) await browser.close();
  if (demo) {
    demo.kill("SIGTERM");
    await new Promise((r) => demo.once("exit", r));
  }
  if (dataDir && !process.env.KEEP) rmSync(dataDir, { recursive: true, force: true }); else console.log("DATADIR", dataDir);
});

test("login pages follow the browser's language", async () => {
  const context = await browser.newContext({ locale: "de-DE" });
  const page = await context.newPage();
  await page.goto(`${info.url}/login`);
  assert.equal(await page.locator("html").getAttribute("lang"), "de");
  assert.equal(await page.locator("h1").textContent(), "Anmelden");
  await page.screenshot({ path: join(shots, "login-de.png") });
  await context.close();
});

test("an agent's day: live message, reply with ticks, file, canned reply, assignment, Arabic", async () => {
  const { context: ownerContext, events } = await watchedContext();
  const owner = await signIn(ownerContext, "owner@demo.veil");
  await owner.evaluate(() => { window.__stayed = true; });

  // A customer writes; the open inbox shows it without a reload.
  await customerWrites({ from: "5511987654321", name: "Ana Souza", text: "Olá! O *pedido* 123 chegou? Veja www.example.com" });
  const row = owner.locator("#conversation-list .conversation", { hasText: "Ana Souza" });
  await row.waitFor({ timeout: 20000 });
  assert.equal(await owner.evaluate(() => window.__stayed), true, "the page was not reloaded");
  assert.match(await row.textContent(), /\+55•+21/, "the number is masked");

  await row.locator("a").click();
  await owner.waitForURL(/\/inbox\/c\//);
  const inbound = owner.locator("#messages .message.in").first();
  assert.equal(await inbound.locator(".b").textContent(), "pedido", "WhatsApp bold is rendered");
  assert.equal(await inbound.locator("a[href]").isVisible(), false, "links stay inert until asked for");
  await inbound.locator("details.link summary").click();
  assert.equal(await inbound.locator("details.link code").textContent(), "https://www.example.com");

  // Reply; the ticks move to read as the simulator reports sent, delivered, read.
  await owner.locator("#reply-text").fill("Chegou sim, obrigado!");
  await owner.locator("#send").click();
  const reply = owner.locator("#messages .message.out", { hasText: "Chegou sim" });
  await reply.waitFor();
  await waitFor(async () => (await reply.getAttribute("data-status")) === "read", "the read tick", 30000);
  assert.equal(await reply.locator(".tick").getAttribute("aria-label"), "Read");

  // Attach a file.
  await owner.locator("#attach-file").setInputFiles({
    name: "invoice.pdf", mimeType: "application/pdf", buffer: Buffer.from("%PDF-1.4 demo invoice\n"),
  });
  await owner.locator("#attach-form button[type=submit]").click();
  await owner.locator('#messages .message.out[data-kind="document"]').waitFor({ timeout: 20000 });

  // A canned reply with its placeholders filled.
  const hello = await owner.locator("#canned option", { hasText: "/hello" }).getAttribute("value");
  await owner.locator("#canned").selectOption(hello);
  assert.equal(await owner.locator("#reply-text").inputValue(),
    "Hello Ana Souza, this is Demo Owner. How can I help you today?");
  await owner.locator("#send").click();
  await owner.locator("#messages .message.out", { hasText: "this is Demo Owner" }).waitFor();

  // An internal note, seen by staff in the thread.
  await owner.locator(".note-box summary").click();
  await owner.locator('#note-form textarea').fill("Customer is waiting for order 123.");
  await owner.locator("#note-form button").click();
  await owner.locator("#messages .message.note", { hasText: "order 123" }).waitFor();
  await owner.screenshot({ path: join(shots, "inbox.png") });

  // Assign to the second agent: they see it, the third agent does not.
  const { context: secondContext } = await watchedContext();
  const second = await signIn(secondContext, "agent2@demo.veil");
  assert.equal(await second.locator("#conversation-list .conversation", { hasText: "Ana Souza" }).count(), 0);
  await owner.locator("#assignee").selectOption({ label: "Second Agent" });
  await owner.locator("#assign-form button[type=submit]").click();
  await owner.waitForLoadState();
  // The second agent's open inbox updates live.
  await second.locator("#conversation-list .conversation", { hasText: "Ana Souza" }).waitFor({ timeout: 20000 });

  const { context: thirdContext } = await watchedContext();
  const third = await signIn(thirdContext, "agent3@demo.veil");
  assert.equal(await third.locator("#conversation-list .conversation").count(), 0);
  await third.locator("#no-conversations").waitFor();
  const id = await owner.locator("#thread").getAttribute("data-conversation");
  const response = await third.goto(`${info.url}/inbox/c/${id}`);
  assert.equal(response.status(), 404, "another agent's conversation is not theirs to open");

  // The second agent switches to Arabic: the layout mirrors, each message keeps its direction.
  await customerWrites({ from: "5511987654321", name: "Ana Souza", text: "مرحبا، أين طلبي؟" });
  await second.goto(`${info.url}/account`);
  await second.locator("#language").selectOption("ar");
  await second.locator('form[action="/account/language"] button').click();
  await second.goto(`${info.url}/inbox/c/${id}`);
  assert.equal(await second.locator("html").getAttribute("dir"), "rtl");
  assert.equal(await second.locator("html").getAttribute("lang"), "ar");
  assert.equal(await second.locator(".top nav a").first().textContent(), "صندوق الوارد");
  const list = await second.locator(".list").boundingBox();
  const thread = await second.locator(".thread").boundingBox();
  assert.ok(list.x > thread.x, "the list is on the right in Arabic");
  const arabic = second.locator("#messages .message.in .body", { hasText: "مرحبا" });
  const latin = second.locator("#messages .message.in .body", { hasText: "Olá" });
  // Read from the element on the page now: a live re-read may replace the thread in between.
  const direction = (locator) => locator.evaluate((el) => el.isConnected && getComputedStyle(el).direction);
  await waitFor(async () => (await direction(arabic)) === "rtl", "the Arabic message reads right to left");
  await waitFor(async () => (await direction(latin)) === "ltr", "the Portuguese message reads left to right");
  await second.screenshot({ path: join(shots, "inbox-ar.png") });

  // Phone width: the conversation replaces the list.
  await owner.setViewportSize({ width: 390, height: 844 });
  await owner.goto(`${info.url}/inbox/c/${id}`);
  assert.equal(await owner.locator(".list").isVisible(), false);
  await owner.locator(".thread-head .back").waitFor();
  await owner.screenshot({ path: join(shots, "inbox-phone.png"), fullPage: false });

  const xss = await owner.evaluate(() => window.__xss);
  assert.deepEqual(xss, []);
  assert.deepEqual(events.filter((e) => !e.startsWith("console:Failed to load resource")), []);
  await Promise.all([ownerContext.close(), secondContext.close(), thirdContext.close()]);
});

// Form controls, buttons, links and images a screen reader could not name, and duplicate ids.
async function accessibilityProblems(page) {
  return page.evaluate(() => {
    const problems = [];
    const named = (el) => {
      if (el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || el.title) return true;
      if (el.labels && el.labels.length > 0) return true;
      return (el.textContent || "").trim().length > 0 || (el.value && el.type === "submit");
    };
    for (const el of document.querySelectorAll("input, select, textarea, button, a[href]")) {
      if (el.type === "hidden" || el.closest("[hidden]")) continue;
      if (!named(el)) problems.push(`unnamed ${el.tagName.toLowerCase()} ${el.name || el.id || el.outerHTML.slice(0, 60)}`);
    }
    for (const img of document.querySelectorAll("img")) {
      if (!img.hasAttribute("alt")) problems.push(`img without alt ${img.src}`);
    }
    const ids = new Set();
    for (const el of document.querySelectorAll("[id]")) {
      if (ids.has(el.id)) problems.push(`duplicate id ${el.id}`);
      ids.add(el.id);
    }
    if (!document.documentElement.lang) problems.push("no lang");
    return problems;
  });
}

// "YYYY-MM-DDTHH:MM" in local time, as a datetime-local input takes it.
function localInput(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

test("admin pages: invite, a team with auto-assignment, a routed channel; scheduling a message", async () => {
  const { context: ownerContext, events } = await watchedContext();
  const owner = await signIn(ownerContext, "owner@demo.veil");
  await owner.locator('header.top a[href="/admin"]').click();
  await owner.waitForURL(/\/admin\/users$/);

  // Invite: a fresh sign-in counts as re-authentication; the setup link is shown once.
  await owner.locator('#invite-form input[name="email"]').fill("night.agent@demo.veil");
  await owner.locator('#invite-form input[name="display_name"]').fill("Night Agent");
  await owner.locator('#invite-form select[name="role"]').selectOption("agent");
  await owner.locator("#invite-form button[type=submit]").click();
  const link = await owner.locator("#setup-link code").textContent();
  assert.match(link, /\/setup\/[A-Za-z0-9_-]{20,}$/);
  await owner.locator("#users tr", { hasText: "night.agent@demo.veil" }).waitFor();
  await owner.screenshot({ path: join(shots, "admin-users.png"), fullPage: true });
  assert.deepEqual(await accessibilityProblems(owner), [], "users page");

  // A team with the third agent, assigning automatically, and the channel routed to it.
  await owner.locator('header.top a[href="/admin"]').click();
  await owner.locator('.tabs a[href="/admin/teams"]').click();
  await owner.locator('#new-team input[name="name"]').fill("Evening");
  await owner.locator("#new-team button").click();
  const team = owner.locator("section.team", { hasText: "Evening" });
  await team.locator('select[name="user_id"]').selectOption({ label: "Third Agent" });
  await team.locator(".add-member button").click();
  await team.locator('.routing input[name="auto_assign"]').check();
  await team.locator('.routing input[name="capacity"]').fill("3");
  await team.locator(".routing button").click();
  await owner.locator("section.team", { hasText: "Evening" }).locator("tr", { hasText: "Third Agent" }).waitFor();
  await owner.locator('.tabs a[href="/admin/channels"]').click();
  const channel = owner.locator("#channels tbody tr").first();
  await channel.locator('input[name="name"]').fill("Shop");
  await channel.locator('select[name="team"]').selectOption({ label: "Evening" });
  await channel.locator("button").click();
  await owner.locator('.tabs a[href="/admin/teams"]').click();
  await owner.screenshot({ path: join(shots, "admin-teams.png"), fullPage: true });
  assert.deepEqual(await accessibilityProblems(owner), [], "teams page");
  for (const section of ["channels", "inbox", "policies"]) {
    await owner.goto(`${info.url}/admin/${section}`);
    assert.deepEqual(await accessibilityProblems(owner), [], `${section} page`);
  }

  // The third agent is online: a new customer's conversation lands in their list by itself.
  const { context: thirdContext, events: thirdEvents } = await watchedContext();
  const third = await signIn(thirdContext, "agent3@demo.veil");
  await third.goto(`${info.url}/inbox?view=mine`);
  await customerWrites({ from: "4930123456789", name: "Jonas Weber", text: "Hallo, ist mein Paket unterwegs?" });
  const row = third.locator("#conversation-list .conversation", { hasText: "Jonas Weber" });
  await row.waitFor({ timeout: 20000 });
  await row.locator("a").click();
  await third.waitForURL(/\/inbox\/c\//);

  // Send later: past the window's end the warning shows at once; within it, the message waits.
  await third.locator("#reply-form details.later summary").click();
  const at = third.locator("#reply-form input.send-at");
  await at.fill(localInput(Date.now() + 25 * 3600 * 1000));
  await third.locator("#reply-form .later-warning").waitFor({ state: "visible" });
  await at.fill(localInput(Date.now() + 2 * 3600 * 1000));
  await third.locator("#reply-form .later-warning").waitFor({ state: "hidden" });
  await third.locator("#reply-text").fill("Ich melde mich in zwei Stunden mit der Sendungsnummer.");
  await third.locator("#reply-form button.schedule").click();
  const scheduled = third.locator('#messages .message.out[data-status="scheduled"]');
  await scheduled.waitFor({ timeout: 20000 });
  await third.screenshot({ path: join(shots, "inbox-scheduled.png") });
  assert.deepEqual(await accessibilityProblems(third), [], "conversation page");
  await scheduled.locator(".cancel-scheduled button").click();
  await third.locator('#messages .message.out[data-status="cancelled"]').waitFor({ timeout: 20000 });

  assert.deepEqual(await owner.evaluate(() => window.__xss), []);
  const noise = (e) => e.startsWith("console:Failed to load resource");
  assert.deepEqual(events.filter((e) => !noise(e)), []);
  assert.deepEqual(thirdEvents.filter((e) => !noise(e)), []);
  await Promise.all([ownerContext.close(), thirdContext.close()]);
});

// Script-injection payloads sent through every customer-controlled field the simulator fills.
const PAYLOADS = [
  "<script>alert('x1')</script>",
  "<img src=x onerror=alert('x2')>",
  "<svg onload=alert('x3')>",
  "\"><script>alert('x4')</script>",
  "'><img src=//evil.invalid/x5.png>",
  "javascript:alert('x6')",
  "</textarea><script>alert('x7')</script>",
  "<a href=\"javascript:alert('x8')\">click</a>",
  "<iframe src=\"//evil.invalid/x9\"></iframe>",
  "<details open ontoggle=alert('x10')>",
  "{{7*7}} ${alert('x11')} <style>@import '//evil.invalid/x12.css'</style>",
  "https://evil.invalid/\"onmouseover=\"alert('x13')",
  "invoice\u202Efdp.exe <b onmouseover=alert('x14')>",
  "<math><mtext><table><mglyph><style><img src=x onerror=alert('x15')>",
];
const KINDS = ["text", "image", "document", "location", "contacts", "interactive", "button", "sticker", "unsupported"];

test("stored XSS: no payload in any customer-controlled field executes", async () => {
  let n = 0;
  for (const payload of PAYLOADS) {
    n += 1;
    for (const kind of KINDS) {
      await customerWrites({
        from: `4915${String(100000000 + n)}`,
        name: payload,
        kind,
        text: kind === "reaction" ? payload.slice(0, 16) : payload,
      });
    }
  }
  // The owner sees every conversation: open each one carrying payloads.
  const { context: ownerContext, events: ownerEvents } = await watchedContext();
  const ownerPage = await signIn(ownerContext, "owner@demo.veil");
  await waitFor(async () => (await ownerPage.reload(), await ownerPage.locator("#conversation-list .conversation").count()) >= PAYLOADS.length,
    "the payload conversations", 30000);
  const links = await ownerPage.locator("#conversation-list .conversation a").evaluateAll((as) => as.map((a) => a.href));
  let shown = "";
  for (const href of links) {
    await ownerPage.goto(href);
    shown += await ownerPage.locator("#messages").textContent();
    // Open every inert link box too.
    for (const summary of await ownerPage.locator("#messages details summary").all()) {
      await summary.click();
    }
    const messages = ownerPage.locator("#messages");
    assert.equal(await messages.locator("script, iframe, svg, math, style").count(), 0, href);
    const handlers = await messages.evaluate((el) =>
      [...el.querySelectorAll("*")].flatMap((n) => [...n.attributes].map((a) => a.name)).filter((a) => a.startsWith("on")));
    assert.deepEqual(handlers, [], href);
    const hrefs = await messages.locator("a[href]").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    assert.ok(hrefs.every((h) => !/^\s*javascript:/i.test(h)), `no javascript: links (${hrefs})`);
  }
  // The payloads are shown as text.
  for (const payload of PAYLOADS.slice(0, 4)) assert.ok(shown.includes(payload), payload);
  await ownerPage.screenshot({ path: join(shots, "xss-payloads.png") });
  assert.deepEqual(await ownerPage.evaluate(() => window.__xss), []);
  const noise = (e) => e.startsWith("console:Failed to load resource");
  assert.deepEqual(ownerEvents.filter((e) => !noise(e)), []);
  await ownerContext.close();
});

test("audit: an auditor filters, verifies and exports; the owner acknowledges the bulk-export alert", async () => {
  const { context: auditorContext, events } = await watchedContext();
  const auditor = await signIn(auditorContext, "auditor@demo.veil", /\/audit$/);
  assert.ok(await auditor.locator("#audit-entries tbody tr").count() > 0, "entries are listed");

  // Filter by action: every row shown is a sign-in.
  await auditor.locator('#audit-filter input[name="action"]').fill("login.success");
  await auditor.locator("#audit-filter button[type=submit]").click();
  await auditor.waitForURL(/action=login.success/);
  const actions = await auditor.locator("#audit-entries tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.action));
  assert.ok(actions.length >= 1, `${actions}`);
  assert.ok(actions.every((a) => a === "login.success"), `${actions}`);
  // A click on an actor narrows to that person.
  await auditor.locator("#audit-entries tbody tr").first().locator("td:nth-child(3) a").click();
  await auditor.waitForURL(/actor=user/);
  const actors = await auditor.locator("#audit-entries tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.actor));
  assert.equal(new Set(actors).size, 1, `${actors}`);

  // Verify now: the whole log checks out.
  await auditor.locator("#verify-now button").click();
  await auditor.waitForURL(/\/audit#integrity$/);
  assert.equal(await auditor.locator("#verification").getAttribute("data-ok"), "true");
  assert.match(await auditor.locator("#verification").textContent(), /Verified: \d+ entries/);
  await auditor.locator("#integrity details summary").click().catch(() => {});
  await auditor.screenshot({ path: join(shots, "audit.png"), fullPage: true });
  assert.deepEqual(await accessibilityProblems(auditor), [], "audit page");

  // Three exports in an hour: CSV (neutralised, a header row), JSON, CSV again.
  const csvHref = await auditor.locator("#export-csv").getAttribute("href");
  const jsonHref = await auditor.locator("#export-json").getAttribute("href");
  const csv = await auditor.request.get(`${info.url}${csvHref}`);
  assert.equal(csv.status(), 200);
  assert.match(csv.headers()["content-type"], /^text\/csv/);
  assert.match(await csv.text(), /^seq,at,actor,action,target,ip,outcome,reason\r?\n/);
  const json = await auditor.request.get(`${info.url}${jsonHref}`);
  assert.ok(Array.isArray((await json.json()).entries));
  assert.equal((await auditor.request.get(`${info.url}${csvHref}`)).status(), 200);

  // The owner sees the alert in the inbox's top bar and acknowledges it.
  const { context: ownerContext, events: ownerEvents } = await watchedContext();
  const owner = await signIn(ownerContext, "owner@demo.veil");
  await waitFor(async () => (await owner.reload(), await owner.locator("#nav-alerts").count()) > 0, "the alert badge", 20000);
  await owner.locator("#nav-alerts").click();
  await owner.waitForURL(/\/admin\/alerts$/);
  const row = owner.locator("#alerts tr", { hasText: "Bulk export" }).first();
  await row.waitFor();
  await row.locator("button").click();
  await owner.waitForURL(/\/admin\/alerts$/);
  await owner.locator("#alerts tr", { hasText: "Bulk export" }).first().locator("td", { hasText: "Acknowledged by Demo Owner" }).waitFor();
  await owner.screenshot({ path: join(shots, "admin-alerts.png"), fullPage: true });
  assert.deepEqual(await accessibilityProblems(owner), [], "alerts page");

  // The acknowledgement is itself in the log, which the auditor sees.
  await auditor.goto(`${info.url}/audit?action=alert.acknowledge`);
  assert.equal(await auditor.locator("#audit-entries tbody tr").count(), 1);

  const noise = (e) => e.startsWith("console:Failed to load resource");
  assert.deepEqual(events.filter((e) => !noise(e)), []);
  assert.deepEqual(ownerEvents.filter((e) => !noise(e)), []);
  await Promise.all([auditorContext.close(), ownerContext.close()]);
});

test("guard: a card arrives masked, a phishing link needs two steps, the composer refuses a card, the owner sets a policy", async () => {
  const { context, events } = await watchedContext();
  const owner = await signIn(context, "owner@demo.veil");
  await customerWrites({ from: "4915100000777", name: "Greta Guard", text: "Meine Karte: 4111 1111 1111 1111" });
  await customerWrites({ from: "4915100000777", name: "Greta Guard", text: "Dringend! Ihr Konto wird gesperrt: https://whatsapp-verify.com/login" });
  const row = owner.locator("#conversation-list .conversation", { hasText: "Greta Guard" });
  await row.waitFor({ timeout: 20000 });
  await row.locator("a").click();
  await owner.waitForURL(/\/inbox\/c\//);
  await owner.locator("#messages .message.in", { hasText: "gesperrt" }).waitFor();

  // The card number was never stored: the agent sees the last four digits and a note.
  const card = owner.locator("#messages .message.in", { hasText: "Meine Karte" });
  assert.equal(await card.locator(".body").textContent(), "Meine Karte: •••• •••• •••• 1111");
  assert.equal(await card.locator(".guard").getAttribute("data-guard"), "card_number");
  assert.ok(!(await owner.content()).includes("4111 1111 1111 1111"));

  // The phishing link: a note with the reasons; its target only after two deliberate steps.
  const phishing = owner.locator("#messages .message.in", { hasText: "gesperrt" });
  assert.match(await phishing.locator(".guard").textContent(), /Phishing link \(warn\): imitates a known brand/);
  const link = phishing.locator("details.link");
  assert.equal(await link.locator("a[href]").isVisible(), false);
  await link.locator("summary").first().click();
  assert.match(await link.locator(".guard-link").textContent(), /flagged this link/);
  assert.equal(await link.locator("a[href]").isVisible(), false, "still inert after the first step");
  await link.locator("details.confirm summary").click();
  assert.equal(await link.locator("a[href]").isVisible(), true);
  await owner.screenshot({ path: join(shots, "guard-inbox.png"), fullPage: true });

  // The composer refuses a card number and says what to do instead; nothing is sent.
  await owner.locator("#reply-text").fill("Ihre Karte ist 5555 5555 5555 4444, oder?");
  await owner.locator("#send").click();
  const refusal = owner.locator("#reply-form .form-error");
  await refusal.waitFor();
  assert.match(await refusal.textContent(), /Not sent: the guard found \u2068?Card number\u2069?\. \u2068?Send a payment link/);
  assert.equal(await owner.locator("#messages .message.out", { hasText: "5555" }).count(), 0);
  assert.match(await owner.locator("#reply-text").inputValue(), /5555/, "the draft is kept to edit");

  // The owner makes e-mail addresses blocked inbound on the guard page.
  await owner.goto(`${info.url}/admin/guard`);
  await owner.locator('select[name="in_email"]').selectOption("block");
  await owner.locator('#guard-policy button[type=submit]:not([name])').click();
  await owner.waitForURL(/\/admin\/guard$/);
  assert.equal(await owner.locator('tr[data-kind="email"]').getAttribute("class"), "changed");
  await owner.screenshot({ path: join(shots, "admin-guard.png"), fullPage: true });
  assert.deepEqual(await accessibilityProblems(owner), [], "guard page");
  await customerWrites({ from: "4915100000777", name: "Greta Guard", text: "mail: greta@example.org" });
  await owner.goto(`${info.url}/inbox`);
  await owner.locator("#conversation-list .conversation", { hasText: "Greta Guard" }).locator("a").click();
  await owner.locator("#messages .message.in", { hasText: "mail:" }).waitFor();
  assert.equal(await owner.locator("#messages .message.in", { hasText: "mail:" }).locator(".body").textContent(), "mail: •••••@•••••••.•••");
  await owner.goto(`${info.url}/admin/guard`);
  await owner.locator('#guard-policy button[name="reset"]').click();
  await owner.waitForURL(/\/admin\/guard$/);
  assert.equal(await owner.locator("tr.changed").count(), 0);

  const noise = (e) => e.startsWith("console:Failed to load resource");
  assert.deepEqual(events.filter((e) => !noise(e)), []);
  await context.close();
});
