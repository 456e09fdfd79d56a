// The web UI in Debian's chromium (playwright-core, headless), against a
// real ambientd that tests/web/test_browser.py started: kubesim mode (a
// cluster's api with users of different rights) or laptop mode
// (`ambientd --local` with a stand-in agent CLI). Everything it needs comes
// in WEB_TEST, a JSON object (see test_browser.py). It fails on any console
// error or warning and any Content-Security-Policy violation, except the
// HTTP error statuses a step expects (the browser logs those as errors).
// Screenshots of each page at 1280 and 390 px go to WEB_TEST.screenshots.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const cfg = JSON.parse(process.env.WEB_TEST);
const WAIT = 20000; // ms any one condition may take
const WIDE = { width: 1280, height: 860 };
const NARROW = { width: 390, height: 844 };
mkdirSync(cfg.screenshots, { recursive: true });

const problems = [];
let expected = []; // [status, url substring]: HTTP errors the current step causes
function expect(...pairs) {
  expected = pairs;
}
function fail(msg) {
  throw new Error(msg);
}

// ---- the live service and the Kubernetes API, as the runner and an admin ----
async function http(method, url, { token, body, ndjson } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = ndjson ? 'application/x-ndjson' : 'application/json';
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : ndjson ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, data };
}

async function ok(promise, ...codes) {
  const r = await promise;
  if (!codes.includes(r.status)) fail(`unexpected ${r.status}: ${JSON.stringify(r.data).slice(0, 400)}`);
  return r.data;
}

// A token for the session's own service account (the runner's identity).
async function runnerToken(ns, session) {
  if (cfg.mode === 'laptop') fail('laptop mode runs real runners');
  const sa = `ambient-session-${session}`;
  await ok(http('POST', `${cfg.kube}/api/v1/namespaces/${ns}/serviceaccounts`, { token: cfg.admin, body: { metadata: { name: sa } } }), 201, 409);
  const r = await ok(http('POST', `${cfg.kube}/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, { token: cfg.admin, body: { spec: {} } }), 201);
  return r.status.token;
}

async function postEvents(ns, session, token, events) {
  const body = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
  await ok(http('POST', `${cfg.live}/api/projects/${ns}/agentic-sessions/${session}/events`, { token, body, ndjson: true }), 201);
}

async function setPhase(ns, session, phase) {
  const path = `${cfg.kube}/apis/vteam.ambient-code/v1alpha1/namespaces/${ns}/agenticsessions/${session}`;
  const obj = await ok(http('GET', path, { token: cfg.admin }), 200);
  obj.status = { ...(obj.status ?? {}), phase };
  await ok(http('PUT', `${path}/status`, { token: cfg.admin, body: obj }), 200);
}

// ---- the browser ----
const browser = await chromium.launch({
  executablePath: cfg.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ viewport: WIDE, locale: 'en-GB', timezoneId: 'Europe/Paris' });
context.setDefaultTimeout(WAIT);
await context.addInitScript(() => {
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) =>
    window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`),
  );
});
const page = await context.newPage();

page.on('console', (m) => {
  if (m.type() !== 'error' && m.type() !== 'warning') return;
  const url = m.location()?.url ?? '';
  const status = Number(/status of (\d{3})/.exec(m.text())?.[1]);
  if (status && expected.some(([s, part]) => s === status && url.includes(part))) return;
  problems.push(`console ${m.type()}: ${m.text()} (${url})`);
});
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

let documentCsp = null;
page.on('response', (r) => {
  if (r.request().resourceType() === 'document') documentCsp = r.headers()['content-security-policy'] ?? null;
});

async function shoot(name) {
  await page.waitForLoadState('networkidle').catch(() => {});
  await page.screenshot({ path: join(cfg.screenshots, `${cfg.mode}-${name}-1280.png`), fullPage: true });
  await page.setViewportSize(NARROW);
  await page.waitForTimeout(150); // one layout at the new width
  await page.screenshot({ path: join(cfg.screenshots, `${cfg.mode}-${name}-390.png`), fullPage: true });
  await page.setViewportSize(WIDE);
}

async function visit(path) {
  await page.goto(cfg.url + path);
}

async function signIn(token) {
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Projects' }).waitFor();
}

async function signOut() {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to Ambient' }).waitFor();
}

async function createProject(name) {
  await page.getByRole('button', { name: 'New project' }).click();
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Display name').fill(`Web test ${name}`);
  await page.getByLabel('Description').fill('Made by the browser test.');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.waitForURL(`**/projects/${name}/sessions`);
}

async function newSession({ prompt, interactive, repo }) {
  await page.getByRole('link', { name: 'New session' }).click();
  await page.getByLabel('Prompt').fill(prompt);
  await page.getByLabel('Display name').fill('Browser test session');
  if (repo) {
    await page.getByRole('button', { name: 'Add repository' }).click();
    await page.getByLabel('Repository 1 URL').fill(repo);
    await page.getByLabel('Branch', { exact: true }).fill('main');
    await page.getByLabel('Output', { exact: true }).selectOption('same');
  }
  if (interactive) await page.getByRole('checkbox', { name: /Interactive/ }).click();
  await shoot('new-session');
  await page.getByRole('button', { name: 'Start session' }).click();
  await page.waitForURL(/\/sessions\/session-[0-9a-f]+$/);
  return page.url().split('/').pop();
}

async function waitLive() {
  await page.locator('[data-live-state="open"]').waitFor();
}

async function cluster() {
  const project = cfg.project;

  // Signed out: the app sends the user to the sign-in page.
  expect([401, '/api/']);
  await visit('/projects');
  await page.getByRole('heading', { name: 'Sign in to Ambient' }).waitFor();
  if (!documentCsp || !documentCsp.includes("script-src 'self'")) fail(`no CSP on the document: ${documentCsp}`);
  await shoot('sign-in');
  await page.getByLabel('Token').fill('not-a-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Ambient rejected this token.').waitFor();

  // Sign in; the token is in sessionStorage only (no "remember").
  expect();
  await signIn(cfg.alice);
  const stored = await page.evaluate(() => [sessionStorage.length, localStorage.length]);
  if (stored[0] !== 1 || stored[1] !== 0) fail(`token storage ${stored}`);

  // Create a project and see it listed.
  await createProject(project);
  await page.getByText('No sessions yet').waitFor();
  await visit('/projects');
  await page.getByRole('link', { name: new RegExp(`Web test ${project}`) }).waitFor();
  await shoot('projects');

  // A session: created, listed, then its live stream.
  await visit(`/projects/${project}/sessions`);
  await page.getByText('No sessions yet').waitFor();
  await shoot('sessions-empty');
  expect([404, '/project-settings']); // a new project has no ProjectSettings yet
  const session = await newSession({ prompt: 'Write a haiku about browsers', interactive: true, repo: 'https://github.com/ambient/demo' });
  await waitLive();
  expect();
  const runner = await runnerToken(project, session);
  await setPhase(project, session, 'Running');
  // The status change arrives on the stream, and the header follows it.
  await page.locator('[role=log] [data-phase="Running"]').waitFor();
  await page.locator('[data-session-phase="Running"]').waitFor({ timeout: 4000 });
  await postEvents(project, session, runner, [
    { type: 'system', subtype: 'init', model: 'claude-sonnet-4-5' },
    { type: 'assistant', message: { content: [{ type: 'text', text: 'Looking at the repository first.' }], usage: { input_tokens: 120, output_tokens: 30 } } },
    { type: 'assistant', message: { content: [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'ls -la' } }] } },
  ]);
  await page.getByText('Looking at the repository first.').waitFor();
  await page.getByText('running…').waitFor();
  await postEvents(project, session, runner, [
    { type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'README.md\nsrc' }] } },
    { type: 'assistant', message: { content: [{ type: 'text', text: 'Pixels drift like leaves' }] } },
    { type: 'result', subtype: 'success', is_error: false, result: 'Haiku written.', total_cost_usd: 0.0123, num_turns: 3, usage: { input_tokens: 400, output_tokens: 90 } },
  ]);
  await page.getByText('Haiku written.').waitFor();
  // The tool call is folded: one row, its result inside, "done".
  await page.getByText('done', { exact: true }).waitFor();
  await page.getByText('Bash').click();
  await page.getByText('README.md').waitFor();
  await page.getByText('$0.0123').first().waitFor();
  // An interactive session takes messages; they come back on the stream.
  await page.getByLabel('Message to the agent').fill('Now a limerick, please');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('[role=log]').getByText('Now a limerick, please').waitFor();
  await shoot('session-detail');

  // History replay: a reload shows every event again, no duplicates.
  await page.reload();
  await waitLive();
  await page.getByText('Haiku written.').waitFor();
  const events = await page.locator('[role=log]').getAttribute('data-events');
  if (events !== '8') fail(`after a reload the stream has ${events} events, not 8`); // 6 + status + message

  // Repositories tab, then stop.
  await page.getByRole('tab', { name: 'Repositories' }).click();
  await page.getByText('https://github.com/ambient/demo').waitFor();
  await page.getByRole('tab', { name: 'Events' }).click();
  await page.getByRole('button', { name: 'Stop' }).click();
  const path = `${cfg.kube}/apis/vteam.ambient-code/v1alpha1/namespaces/${project}/agenticsessions/${session}`;
  for (let i = 0; ; i++) {
    const obj = await ok(http('GET', path, { token: cfg.admin }), 200);
    if (obj.metadata.annotations?.['ambient-code.io/desired-phase'] === 'Stopped') break;
    if (i > 100) fail('stop did not set the desired phase');
    await page.waitForTimeout(100);
  }
  await setPhase(project, session, 'Stopped'); // what the controller does
  await page.locator('[role=log]').locator('[data-phase="Stopped"]').waitFor();
  await page.locator('[data-session-phase="Stopped"]').waitFor({ timeout: 4000 });
  await page.getByRole('button', { name: 'Restart' }).waitFor();

  // The sessions list: the session, its phase; search narrows it.
  await visit(`/projects/${project}/sessions`);
  await page.getByRole('link', { name: 'Browser test session' }).waitFor();
  await page.getByLabel('Search sessions').fill('no such thing');
  await page.getByText('No session matches').waitFor();
  await page.getByLabel('Search sessions').fill('haiku');
  await page.getByRole('link', { name: 'Browser test session' }).waitFor();
  await shoot('sessions');

  // Settings: the key is written, never shown again.
  const secret = 'sk-ant-browser-test-9f8e7d6c5b4a';
  await visit(`/projects/${project}/settings`);
  expect([404, '/project-settings']);
  await page.getByLabel('Anthropic API key').fill(secret);
  await page.getByRole('button', { name: 'Save secrets' }).click();
  await page.getByRole('list', { name: 'Stored keys' }).getByText('ANTHROPIC_API_KEY').waitFor();
  if ((await page.getByLabel('Anthropic API key').inputValue()) !== '') fail('the key stayed in its field');
  // A second key is merged in, the first kept; then it is removed alone.
  const keys = page.getByRole('list', { name: 'Stored keys' });
  await page.getByLabel('Other key').fill('EXTRA_TOKEN');
  await page.getByLabel('Its value').fill('extra-Value-0a1b2c3d4e');
  await page.getByRole('button', { name: 'Save secrets' }).click();
  await keys.getByText('EXTRA_TOKEN').waitFor();
  await keys.getByText('ANTHROPIC_API_KEY').waitFor();
  await page.getByRole('button', { name: 'Remove EXTRA_TOKEN' }).click();
  await keys.getByText('EXTRA_TOKEN').waitFor({ state: 'detached' });
  await keys.getByText('ANTHROPIC_API_KEY').waitFor();
  await page.getByLabel('Default model').fill('claude-sonnet-4-5');
  await page.getByRole('button', { name: 'Save defaults' }).click();
  await page.getByText('Saved.').first().waitFor();
  await page.getByLabel('Kind').selectOption('user');
  await page.getByLabel('Name', { exact: true }).fill('bob');
  await page.getByLabel('Role', { exact: true }).selectOption('view');
  await page.getByRole('button', { name: 'Grant' }).click();
  await page.getByRole('list', { name: 'Who has access' }).getByText('bob').waitFor();
  await page.reload();
  await page.getByRole('list', { name: 'Stored keys' }).getByText('ANTHROPIC_API_KEY').waitFor();
  if ((await page.getByLabel('Default model').inputValue()) !== 'claude-sonnet-4-5') fail('default model not kept');
  if ((await page.content()).includes(secret)) fail('the secret is in the page');
  await shoot('settings');
  expect();

  // A read-only user: sees the sessions, may not start one; the secrets are 403.
  await signOut();
  await signIn(cfg.bob);
  await visit(`/projects/${project}/sessions`);
  await page.getByRole('link', { name: 'Browser test session' }).waitFor();
  if (await page.getByRole('link', { name: 'New session' }).count()) fail('a viewer is offered "New session"');
  await page.getByLabel('your role: view').waitFor();
  expect([403, '/runner-secrets'], [403, '/permissions'], [404, '/project-settings']);
  await visit(`/projects/${project}/settings`);
  await page.getByRole('heading', { name: 'You do not have access' }).first().waitFor();
  await shoot('forbidden');
  // Another user's project is a 403 too.
  expect([403, `/api/projects/${cfg.otherProject}`]);
  await visit(`/projects/${cfg.otherProject}/sessions`);
  await page.getByRole('heading', { name: 'You do not have access' }).waitFor();

  // A missing session and a missing page: 404.
  expect([404, '/agentic-sessions/session-missing']);
  await visit(`/projects/${project}/sessions/session-missing`);
  await page.getByRole('heading', { name: 'Not found' }).waitFor();
  await shoot('not-found');
  expect();
  await visit('/no/such/page');
  await page.getByRole('heading', { name: 'Not found' }).waitFor();

  // 10,000 events: virtualised, so loading them stays quick.
  await signOut();
  await signIn(cfg.alice);
  const big = (await ok(http('POST', `${cfg.url}/api/projects/${project}/agentic-sessions`, { token: cfg.alice, body: { prompt: 'many events', displayName: 'Ten thousand events' } }), 201)).metadata.name;
  const bigToken = await runnerToken(project, big);
  const N = 10000;
  for (let i = 0; i < N; i += 500) {
    const batch = [];
    for (let j = i; j < i + 500; j++)
      batch.push(j % 3 === 2
        ? { type: 'assistant', message: { content: [{ type: 'tool_use', id: `t${j}`, name: 'Read', input: { file: `f${j}.c` } }] } }
        : { type: 'assistant', message: { content: [{ type: 'text', text: `event ${j}: the agent keeps working on line ${j}` }] } });
    await postEvents(project, big, bigToken, batch);
  }
  const t0 = Date.now();
  await visit(`/projects/${project}/sessions/${big}`);
  await page.locator(`[role=log][data-events="${N}"]`).waitFor({ timeout: 60000 });
  await page.getByText(`event ${N - 1}: the agent`).waitFor();
  const loaded = Date.now() - t0;
  const rows = await page.locator('[role=log] [data-index]').count();
  const t1 = Date.now();
  await page.locator('[role=log]').evaluate((el) => (el.scrollTop = 0));
  await page.getByText('event 0: the agent').waitFor();
  const scrolled = Date.now() - t1;
  console.log(`web: ${N} events: shown ${loaded} ms after navigation, ${rows} rows in the DOM, scroll to the top ${scrolled} ms`);
  if (rows > 200) fail(`${rows} rows in the DOM: the log is not virtualised`);
  await shoot('session-10k');
}

async function laptop() {
  const project = cfg.project;
  expect([401, '/api/']);
  await visit('/');
  await page.getByRole('heading', { name: 'Sign in to Ambient' }).waitFor().catch(async () => {
    fail('laptop mode did not ask for the token');
  });
  await page.getByRole('checkbox', { name: /Remember/ }).click();
  expect();
  await signIn(cfg.admin);
  const stored = await page.evaluate(() => [sessionStorage.length, localStorage.length]);
  if (stored[0] !== 0 || stored[1] !== 1) fail(`"remember" kept the token in ${stored}`);
  await createProject(project);
  await visit(`/projects/${project}/settings`);
  expect([404, '/project-settings']);
  await page.getByLabel('Anthropic API key').fill('sk-ant-laptop-test');
  await page.getByRole('button', { name: 'Save secrets' }).click();
  await page.getByRole('list', { name: 'Stored keys' }).getByText('ANTHROPIC_API_KEY').waitFor();
  await visit(`/projects/${project}/sessions`);
  // The stand-in CLI prints numbered assistant events, then a result.
  const session = await newSession({ prompt: 'Count for me [fake:many 5]', interactive: false });
  await page.locator('[data-live-state]').waitFor();
  await page.locator('[role=log]').locator('[data-phase="Completed"]').waitFor({ timeout: 120000 });
  await page.getByText('runner finished').first().waitFor();
  expect();
  await shoot('session-detail');
  console.log(`web: laptop session ${session} completed live`);

  // RFE workflows are loaded in laptop mode: the default council runs each
  // step as a session of the stand-in CLI, stage after stage.
  await visit(`/projects/${project}/sessions`);
  await page.getByRole('link', { name: 'RFE workflows' }).click();
  await page.getByRole('button', { name: 'New RFE workflow' }).click();
  await page.getByLabel('Name', { exact: true }).fill('notes-export');
  await page.getByLabel('Title').fill('Notes export');
  await page.getByLabel('The feature request').fill('Export notes as Markdown.');
  await shoot('rfe-new');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.waitForURL('**/rfe-workflows/notes-export');
  const steps = page.getByRole('list', { name: 'Steps, in order of their dependencies' });
  await steps.waitFor();
  await page.locator('h2 + [data-phase="Completed"]').waitFor({ timeout: 180000 });
  const done = await steps.locator('[data-step] [data-phase="Completed"]').count();
  const all = await steps.locator('[data-step]').count();
  if (all < 2 || done !== all) fail(`${done} of ${all} steps show Completed`);
  await shoot('rfe-detail');
  // Each step links to its session.
  await steps.locator('[data-step]').first().getByRole('link', { name: /^session / }).click();
  await page.locator('[role=log]').locator('[data-phase="Completed"]').waitFor();
  console.log(`web: laptop RFE workflow completed its ${all} steps`);
}

let failed = null;
try {
  await (cfg.mode === 'laptop' ? laptop() : cluster());
  const csp = await page.evaluate(() => window.__csp);
  if (csp.length) problems.push(...csp.map((v) => `CSP violation: ${v}`));
} catch (e) {
  failed = e;
  await page.screenshot({ path: join(cfg.screenshots, `${cfg.mode}-failure.png`), fullPage: true }).catch(() => {});
} finally {
  await browser.close();
}
if (failed || problems.length) {
  if (failed) console.error(`web: FAILED: ${failed.stack ?? failed}`);
  for (const p of problems) console.error(`web: ${p}`);
  process.exit(1);
}
console.log(`web: ${cfg.mode} passed; screenshots in ${cfg.screenshots}`);
