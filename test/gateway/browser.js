// test/gateway/browser.js: the reference web page (gateway/www/) in a real
// browser, through the real gateway; test/scripts/gateway_browser.sh runs it.
//
// Debian's Chromium, headless, driven by playwright-core (no browser is
// downloaded).  Three browser contexts, as three people on three devices:
// Mia (a customer), Leo (her stylist) and Eve (another customer).  Leo's
// page reaches the gateway through a TCP proxy of this program, so that
// his network can be cut and restored.  This program starts the gateway
// itself (GATEWAY_BIN, GATEWAY_DB, GATEWAY_PORT), so that it can kill it
// and start it again.
//
// What it checks, each a TAP test:
//   - both pages come online, each showing the pair's chat and history;
//   - Mia sends from her composer, Leo's page shows it within a second;
//   - Mia types: Leo's page shows her typing, and stops showing it;
//   - Leo's page, open and visible, reads: Mia's message gets the read tick;
//   - Leo's network is cut while Mia sends 20 messages, then restored:
//     Leo's page shows all 20, once each, in order;
//   - the gateway is killed mid-conversation (a message of Mia's waiting to
//     be sent) and started again: both pages come back online, the waiting
//     message and those sent afterwards reach both pages once each, and the
//     database holds each once;
//   - a page with an expired token says so and shows no message;
//   - Eve's page, open throughout, never shows the pair's chat or text;
//   - no page had a script error or a Content-Security-Policy refusal;
//   - screenshots of Mia's and Leo's pages (SHOTS_DIR), taken once Leo has
//     read, are PNGs of real size whose pixels are not all alike.
'use strict';
const fs = require('fs');
const net = require('net');
const path = require('path');
const {spawn, execFileSync} = require('child_process');
const {chromium} = require('playwright-core');

const env = process.env;
const GW_PORT = Number(env.GATEWAY_PORT);
const SHOTS = env.SHOTS_DIR;
const CHAT = env.CHAT_ID;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- TAP ----
let n = 0;
let failed = 0;
const PLAN = 20;
console.log(`1..${PLAN}`);
function ok(cond, name, diag) {
  n++;
  if (cond) {
    console.log(`ok ${n} - ${name}`);
  } else {
    failed++;
    console.log(`not ok ${n} - ${name}`);
    if (diag) for (const l of String(diag).split('\n')) console.log(`#   ${l}`);
  }
}

function sql(query) {
  return execFileSync('psql', ['-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres', '-c', query],
                      {encoding: 'utf8'}).trim();
}

// ---- the gateway, which this program owns ----
let gateway = null;
function startGateway(proxyPort) {
  const log = fs.openSync(env.GATEWAY_LOG, 'a');
  gateway = spawn(env.GATEWAY_BIN, ['--port', String(GW_PORT), '--db', env.GATEWAY_DB,
    '--origin', `http://127.0.0.1:${GW_PORT}`, '--origin', `http://127.0.0.1:${proxyPort}`],
  {stdio: ['ignore', log, log]});
  return waitPort(GW_PORT);
}
async function waitPort(port) {
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
    if (up) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on ${port}`);
}

// ---- Leo's network: a proxy that can be cut ----
const proxy = {cut: false, sockets: new Set()};
const proxyServer = net.createServer((client) => {
  if (proxy.cut) { client.destroy(); return; }
  const up = net.connect(GW_PORT, '127.0.0.1');
  proxy.sockets.add(client);
  proxy.sockets.add(up);
  client.pipe(up);
  up.pipe(client);
  const done = () => { client.destroy(); up.destroy(); proxy.sockets.delete(client); proxy.sockets.delete(up); };
  client.on('error', done); up.on('error', done); client.on('close', done); up.on('close', done);
});
function cutLeo() {
  proxy.cut = true;
  for (const s of proxy.sockets) s.destroy();
}

// ---- page helpers ----
const state = (page) => page.getAttribute('#conn-state', 'data-state').catch(() => null);
async function waitState(page, want, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if ((await state(page)) === want) return true;
    await sleep(50);
  }
  return false;
}
const bodies = (page) => page.$$eval('#messages .msg[data-seq]', (els) => els.map((e) => {
  const b = e.querySelector('.body');
  return {seq: Number(e.dataset.seq), body: b ? b.textContent : ''};
}));
async function waitBody(page, text, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if ((await bodies(page)).some((m) => m.body.includes(text))) return true;
    await sleep(20);
  }
  return false;
}
async function send(page, text) {
  await page.fill('textarea#body', text);
  await page.click('button#send');
}
async function attrWait(page, sel, attr, want, ms) {
  const until = Date.now() + ms;
  let got = null;
  while (Date.now() < until) {
    got = await page.getAttribute(sel, attr).catch(() => null);
    if (got === want) return {ok: true, got};
    await sleep(50);
  }
  return {ok: false, got};
}
// is `seqs` strictly increasing (each once) and containing all of `want` in order?
function onceInOrder(list, want) {
  const seqs = list.map((m) => m.seq);
  const sorted = seqs.every((s, i) => i === 0 || s > seqs[i - 1]);
  const found = want.map((w) => list.filter((m) => m.body === w).length);
  const order = want.map((w) => list.findIndex((m) => m.body === w));
  return {ok: sorted && found.every((c) => c === 1) && order.every((o, i) => o >= 0 && (i === 0 || o > order[i - 1])),
          diag: `seqs ${seqs.join(',')}\nfound counts ${found.join(',')}`};
}

// is this PNG a real picture: of some size, its pixels not all alike?
async function pictureCheck(browser, file) {
  const buf = fs.readFileSync(file);
  const page = await browser.newPage();
  const colours = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 4 * 7) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return {w: img.width, h: img.height, colours: seen.size};
  }, buf.toString('base64'));
  await page.close();
  return {bytes: buf.length, ...colours};
}

async function main() {
  await new Promise((r) => proxyServer.listen(0, '127.0.0.1', r));
  const proxyPort = proxyServer.address().port;
  await startGateway(proxyPort);

  const browser = await chromium.launch({
    executablePath: env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const problems = [];   // script errors and CSP refusals, on any page
  const open = async (port, token, label) => {
    const ctx = await browser.newContext({viewport: {width: 1100, height: 720}});
    const page = await ctx.newPage();
    page.on('pageerror', (e) => { problems.push(`${label} page error: ${e.message}`); });
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`${label}: ${m.text()}`);
    });
    await page.goto(`http://127.0.0.1:${port}/#token=${token}`);
    return page;
  };
  const mia = await open(GW_PORT, env.MIA_TOKEN, 'Mia');
  const leo = await open(proxyPort, env.LEO_TOKEN, 'Leo');
  const eve = await open(GW_PORT, env.EVE_TOKEN, 'Eve');

  // 1-2: online, the pair's chat open with its history
  const up = await waitState(mia, 'online', 10000) && await waitState(leo, 'online', 10000);
  ok(up, 'Mia\'s and Leo\'s pages come online', `Mia ${await state(mia)}, Leo ${await state(leo)}`);
  const history = await waitBody(leo, 'shorter than last time', 5000);
  ok(history && (await leo.getAttribute('#thread', 'data-chat-id')) === CHAT,
     'Leo\'s page opens the pair\'s chat with its history', JSON.stringify(await bodies(leo)).slice(0, 300));

  // 3: live arrival within a second
  const t0 = Date.now();
  await send(mia, 'Is 10:00 still good for Friday?');
  const arrived = await waitBody(leo, 'Is 10:00 still good for Friday?', 5000);
  const took = Date.now() - t0;
  ok(arrived && took <= 1000, `Mia's message shows on Leo's page within a second (${took} ms)`);

  // 4-5: typing shows, then clears
  // as a person types: a key every 150 ms for about 4 s (the page sends at
  // most one typing event every 2 s, the relay passes one a second)
  const typist = mia.type('textarea#body', 'I might be a little late, sorry', {delay: 130});
  const typing = await attrWait(leo, '#typing', 'hidden', null, 6000);
  const typingText = await leo.textContent('#typing').catch(() => '');
  await typist;
  ok(typing.ok && /typing/i.test(typingText), 'Leo\'s page shows Mia typing', `hidden=${typing.got} text=${typingText}`);
  let cleared = false;
  for (let i = 0; i < 100 && !cleared; i++) {
    cleared = (await leo.getAttribute('#typing', 'hidden').catch(() => null)) !== null;
    if (!cleared) await sleep(100);
  }
  ok(cleared, 'and stops showing it when she stops');
  await mia.fill('textarea#body', '');

  // 6: read tick on Mia's side once Leo's page (open, visible) has read
  const last = (await bodies(mia)).filter((m) => m.body.includes('10:00')).pop();
  const tick = last ? await attrWait(mia, `#messages .msg[data-seq="${last.seq}"] .ticks`, 'data-tick', 'read', 5000)
    : {ok: false, got: 'no message'};
  ok(tick.ok, 'Mia\'s message gets the read tick when Leo\'s page shows it', `tick ${tick.got}`);

  // the screenshots (checked at the end): the conversation so far
  const miaShot = path.join(SHOTS, 'mia.png');
  const leoShot = path.join(SHOTS, 'leo.png');
  await mia.screenshot({path: miaShot});
  await leo.screenshot({path: leoShot});

  // 7-8: Leo's network cut while Mia sends 20, then restored
  cutLeo();
  const offline = await waitState(leo, 'reconnecting', 5000);
  ok(offline, 'Leo\'s page shows that it is reconnecting when his network is cut', `state ${await state(leo)}`);
  const twenty = [];
  for (let i = 1; i <= 20; i++) {
    twenty.push(`While you were away ${i}`);
    await send(mia, twenty[i - 1]);
    await sleep(30);
  }
  // every one of them sent (a burst may meet the gateway's rate limit: the
  // page sends again what was refused)
  const allSent = async () => (await mia.$$eval('#messages .msg.mine .ticks',
    (els) => els.filter((e) => e.dataset.tick === 'pending').length)) === 0;
  for (let i = 0; i < 150 && !(await allSent()); i++) await sleep(100);
  proxy.cut = false;
  const back = await waitState(leo, 'online', 15000);
  await waitBody(leo, 'While you were away 20', 5000);
  const leoList = await bodies(leo);
  const check20 = onceInOrder(leoList, twenty);
  ok(back && check20.ok, 'Leo\'s page, back online, shows all 20 once each, in order', check20.diag);
  ok(Number(sql(`SELECT count(*) FROM chat.chat_messages WHERE chat_id = '${CHAT}' AND body LIKE 'While you were away %'`)) === 20,
     'the database holds each of the 20 once');

  // 9-11: the gateway killed mid-conversation and started again
  gateway.kill('SIGKILL');
  await new Promise((r) => gateway.once('exit', r));
  const both = (await waitState(mia, 'reconnecting', 8000)) && (await waitState(leo, 'reconnecting', 8000));
  ok(both, 'both pages notice that the gateway is gone');
  await send(mia, 'Sent while the gateway was down');
  await sleep(300);
  await startGateway(proxyPort);
  const again = (await waitState(mia, 'online', 15000)) && (await waitState(leo, 'online', 15000));
  const after = ['After the restart 1', 'After the restart 2', 'After the restart 3'];
  for (const t of after) { await send(mia, t); await sleep(50); }
  const want = ['Sent while the gateway was down', ...after];
  await waitBody(leo, after[2], 5000);
  await waitBody(mia, after[2], 5000);
  const onLeo = onceInOrder(await bodies(leo), want);
  const onMia = onceInOrder(await bodies(mia), want);
  ok(again && onLeo.ok, 'after the restart Leo\'s page shows the waiting message and the later ones, once each, in order', onLeo.diag);
  ok(again && onMia.ok, 'and so does Mia\'s page', onMia.diag);
  const inDb = sql(`SELECT string_agg(n::text, ',') FROM (SELECT count(*) n FROM chat.chat_messages
                    WHERE chat_id = '${CHAT}' AND body IN ('${want.join("','")}') GROUP BY body) c`);
  ok(inDb === '1,1,1,1', 'the database holds each of them once', `counts ${inDb}`);

  // 12: an expired token
  const stale = await open(GW_PORT, env.EXPIRED_TOKEN, 'expired');
  const refused = await waitState(stale, 'expired', 10000);
  const staleMsgs = await bodies(stale).catch(() => []);
  ok(refused && staleMsgs.length === 0, 'a page with an expired token says so and shows no message',
     `state ${await state(stale)}, ${staleMsgs.length} messages`);

  // 13-14: Eve never sees the pair
  const eveText = await eve.textContent('body');
  const pairWords = ['shorter than last time', 'While you were away', 'Is 10:00 still good', 'After the restart', 'Leo'];
  const leaked = pairWords.filter((w) => eveText.includes(w));
  ok((await state(eve)) === 'online', 'Eve\'s page is online', `state ${await state(eve)}`);
  ok(leaked.length === 0 && (await eve.$(`.inbox-item[data-chat-id="${CHAT}"]`)) === null,
     'Eve\'s page never shows the pair\'s chat or any of its text', `found: ${leaked.join(', ')}`);

  // 17-19: screenshots
  for (const [who, file] of [['Mia', miaShot], ['Leo', leoShot]]) {
    const p = await pictureCheck(browser, file);
    ok(p.bytes > 20000 && p.w === 1100 && p.h === 720 && p.colours > 50,
       `${who}'s screenshot is a real picture (${p.bytes} bytes, ${p.w}x${p.h}, ${p.colours} colours sampled)`);
  }
  const eveShot = path.join(SHOTS, 'eve.png');
  await eve.screenshot({path: eveShot});
  ok(fs.statSync(eveShot).size > 5000, 'Eve\'s screenshot is saved');

  ok(problems.length === 0, 'no script error and no Content-Security-Policy refusal on any page', problems.join('\n'));

  await browser.close();
  gateway.kill('SIGTERM');
  proxyServer.close();
}

// killed (a timeout): the gateway goes too
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    if (gateway && gateway.exitCode === null) gateway.kill('SIGKILL');
    process.exit(1);
  });
}

main().catch((e) => {
  console.log(`# ${e.stack}`);
  failed++;
}).finally(() => {
  if (gateway && gateway.exitCode === null) gateway.kill('SIGKILL');
  while (n < PLAN) ok(false, 'not reached');
  process.exit(failed ? 1 : 0);
});
