#!/usr/bin/env node
/*
 * test/gateway/protocol.js: the WebSocket gateway's protocol, as its README
 * section documents it, driven through real sockets (the ws package).
 *
 * Run by test/scripts/gateway.sh, which starts a cluster and three gateways
 * and passes everything in the environment:
 *   GATEWAY_URL, GATEWAY_ORIGIN, GATEWAY_PID, GATEWAY_RC_FILE, GATEWAY_LOG,
 *   GATEWAY_APPNAME, GATEWAY_POOL               the main gateway (default limits)
 *   GATEWAY_LIMITS_URL, GATEWAY_LIMITS_RATE, GATEWAY_LIMITS_BURST,
 *   GATEWAY_LIMITS_AUTH_TIMEOUT, GATEWAY_LIMITS_PID
 *                                               --rate/--burst/--auth-timeout small
 *   GATEWAY_SLOW_URL, GATEWAY_SLOW_PID, GATEWAY_SLOW_MAX_FRAME
 *                                               --max-queue 4096, --max-frame 1 MiB
 *   MIA_ID LEO_ID EVE_ID SAM_ID KIM_ID, *_TOKEN, CHAT_MIA_LEO CHAT_MIA_SAM
 *   CHAT_EVE_SAM CHAT_KIM_SAM, BOOKING_ID, DB_RESTART_CMD, PGHOST/PGPORT/PGUSER
 * SQL (fixtures, checks, forged NOTIFYs) goes through psql, database postgres.
 *
 * Output: TAP ("1..N" first).  Exit status 0 only when every test passed.
 * Every wait has a timeout; a scenario that throws or times out reports
 * its remaining tests as failed, so the plan always adds up.
 */
'use strict';

const WebSocket = require('ws');
const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');

const E = process.env;
const REQUIRED = ['GATEWAY_URL', 'GATEWAY_ORIGIN', 'GATEWAY_PID', 'GATEWAY_RC_FILE', 'GATEWAY_LOG',
    'GATEWAY_APPNAME', 'GATEWAY_LIMITS_URL', 'GATEWAY_LIMITS_PID', 'GATEWAY_SLOW_URL', 'GATEWAY_SLOW_PID',
    'MIA_ID', 'LEO_ID', 'EVE_ID', 'SAM_ID', 'KIM_ID', 'MIA_TOKEN', 'LEO_TOKEN', 'EVE_TOKEN',
    'SAM_TOKEN', 'KIM_TOKEN', 'CHAT_MIA_LEO', 'CHAT_MIA_SAM', 'CHAT_KIM_SAM', 'BOOKING_ID',
    'DB_RESTART_CMD'];
for (const name of REQUIRED) {
    if (!E[name]) {
        console.log('1..1');
        console.log(`not ok 1 - the environment names ${name} (run test/scripts/gateway.sh)`);
        process.exit(1);
    }
}

const MAIN = E.GATEWAY_URL;
const ORIGIN = E.GATEWAY_ORIGIN;
const LIMITS = E.GATEWAY_LIMITS_URL;
const SLOW = E.GATEWAY_SLOW_URL;
const POOL = parseInt(E.GATEWAY_POOL || '4', 10);
const LIMITS_RATE = parseInt(E.GATEWAY_LIMITS_RATE || '5', 10);
const LIMITS_BURST = parseInt(E.GATEWAY_LIMITS_BURST || '5', 10);
const AUTH_TIMEOUT = parseInt(E.GATEWAY_LIMITS_AUTH_TIMEOUT || '2', 10);
const MAX_FRAME = 65536;		/* the main gateway's --max-frame: the default */
const SLOW_MAX_FRAME = parseInt(E.GATEWAY_SLOW_MAX_FRAME || '1048576', 10);
const ID = { mia: E.MIA_ID, leo: E.LEO_ID, eve: E.EVE_ID, sam: E.SAM_ID, kim: E.KIM_ID, ola: E.OLA_ID };
const TOKEN = { mia: E.MIA_TOKEN, leo: E.LEO_TOKEN, eve: E.EVE_TOKEN, sam: E.SAM_TOKEN, kim: E.KIM_TOKEN, ola: E.OLA_TOKEN };
const CHAT_ML = E.CHAT_MIA_LEO;
const CHAT_MS = E.CHAT_MIA_SAM;
const CHAT_KS = E.CHAT_KIM_SAM;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const json = (v) => JSON.stringify(v);
const short = (v, n = 300) => { const s = typeof v === 'string' ? v : json(v); return s.length > n ? s.slice(0, n) + '…' : s; };

/* ---------------------------------------------------------------- SQL */

function psql(script, timeoutMs = 30000) {
    return new Promise((resolve, reject) => {
        const p = spawn('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres'],
            { stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('psql timed out')); }, timeoutMs);
        p.stdout.on('data', (d) => { out += d; });
        p.stderr.on('data', (d) => { err += d; });
        p.on('error', (e) => { clearTimeout(timer); reject(e); });
        p.on('close', (code) => {
            clearTimeout(timer);
            if (code === 0)
                resolve(out.replace(/\n+$/, ''));
            else
                reject(new Error(`psql exited ${code}: ${err.trim()}`));
        });
        p.stdin.end(script);
    });
}

/* run statements as a profile, in one transaction */
const sqlAs = (who, body) => psql(`BEGIN;\nSELECT chat.act_as('${who}') \\gset\n${body}\nCOMMIT;\n`);
const issueToken = (who, ttl = '1 hour') => psql(`SELECT chat.issue_token('${who}', interval '${ttl}');`);

function runShell(cmd, timeoutMs) {
    return new Promise((resolve) => {
        const p = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
        p.stdout.on('data', (d) => { out += d; });
        p.stderr.on('data', (d) => { out += d; });
        p.on('close', (code) => { clearTimeout(timer); resolve({ code, out }); });
    });
}

function vmRssKb(pid) {
    try {
        const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
        return m ? parseInt(m[1], 10) : null;
    } catch (e) {
        return null;
    }
}

function alive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return false;
    }
}

/* ---------------------------------------------------------------- clients */

const allClients = [];

class Client {
    /*
     * opts: origin (an Origin header), protocol (null: none), rate/burst
     * (the client keeps under the gateway's rate limit by itself: false
     * for no limit), path.
     */
    constructor(label, url, opts = {}) {
        this.label = label;
        this.url = url;
        this.frames = [];		/* every frame received, parsed ({raw} when not JSON) */
        this.waiters = new Set();
        this.closed = null;		/* {code, reason, at} */
        this.openedAt = null;
        this.nextId = 1;
        this.rate = opts.rate === undefined ? 15 : opts.rate;
        this.burst = opts.burst === undefined ? 30 : opts.burst;
        this.tokens = this.burst;
        this.tokensAt = Date.now();
        this.profile = null;
        const protocol = opts.protocol === undefined ? 'stylist-chat' : opts.protocol;
        const wsOpts = { handshakeTimeout: 5000, perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 };
        if (opts.origin)
            wsOpts.origin = opts.origin;
        this.ws = protocol === null ? new WebSocket(url, wsOpts) : new WebSocket(url, protocol, wsOpts);
        this.ws.on('error', (e) => { this.error = e; });
        this.ws.on('message', (data, isBinary) => {
            const text = data.toString();
            let f;
            try {
                f = JSON.parse(text);
            } catch (e) {
                f = { raw: text };
            }
            if (f === null || typeof f !== 'object')
                f = { raw: text };
            f._at = Date.now();
            f._binary = isBinary;
            this.frames.push(f);
            for (const w of this.waiters)
                w.check();
        });
        this.ws.on('close', (code, reason) => {
            this.closed = { code, reason: reason.toString(), at: Date.now() };
            for (const w of this.waiters)
                w.check();
        });
        this.opened = new Promise((resolve, reject) => {
            this.ws.once('open', () => { this.openedAt = Date.now(); resolve(); });
            this.ws.once('unexpected-response', (req, res) => {
                this.httpStatus = res.statusCode;
                reject(new Error(`handshake refused: HTTP ${res.statusCode}`));
                req.destroy();
            });
            this.ws.once('close', (code) => reject(new Error(`closed (${code}) before it opened`)));
            this.ws.once('error', (e) => reject(new Error(`handshake failed: ${e.message}`)));
        });
        this.opened.catch(() => {});
        allClients.push(this);
    }

    async open(ms = 5000) {
        let timer;
        try {
            await Promise.race([this.opened, new Promise((_, rej) => {
                timer = setTimeout(() => rej(new Error(`${this.label}: no handshake within ${ms} ms`)), ms);
            })]);
        } finally {
            clearTimeout(timer);
        }
        return this;
    }

    get isOpen() {
        return this.ws.readyState === WebSocket.OPEN;
    }

    /* the first frame at index >= from that matches, within ms */
    waitFor(pred, ms = 5000, from = 0, what = 'a frame') {
        return new Promise((resolve, reject) => {
            let i = from;
            const w = {
                check: () => {
                    for (; i < this.frames.length; i++)
                        if (pred(this.frames[i])) {
                            done();
                            resolve(this.frames[i]);
                            return;
                        }
                    if (this.closed) {
                        done();
                        reject(new Error(`${this.label}: closed (${this.closed.code} ${this.closed.reason}) while waiting for ${what}`));
                    }
                },
            };
            const timer = setTimeout(() => {
                done();
                reject(new Error(`${this.label}: no ${what} within ${ms} ms`));
            }, ms);
            const done = () => { clearTimeout(timer); this.waiters.delete(w); };
            this.waiters.add(w);
            w.check();
        });
    }

    /* the close, within ms: {code, reason, at} */
    waitClose(ms = 5000) {
        if (this.closed)
            return Promise.resolve(this.closed);
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.ws.removeListener('close', onClose);
                reject(new Error(`${this.label}: not closed within ${ms} ms`));
            }, ms);
            const onClose = () => { clearTimeout(timer); resolve(this.closed); };
            this.ws.once('close', onClose);
        });
    }

    /* the client-side rate limit: keeps under the gateway's */
    async acquire() {
        if (this.rate === false)
            return;
        for (;;) {
            const now = Date.now();
            this.tokens = Math.min(this.burst, this.tokens + (now - this.tokensAt) * this.rate / 1000);
            this.tokensAt = now;
            if (this.tokens >= 1) {
                this.tokens -= 1;
                return;
            }
            await sleep(Math.ceil((1 - this.tokens) * 1000 / this.rate) + 5);
        }
    }

    send(data, opts) {
        if (!this.isOpen)
            throw new Error(`${this.label}: not open (${this.closed ? this.closed.code : this.ws.readyState})`);
        this.ws.send(data, opts);
    }

    /* a request; resolves with its answer (result, error or authenticated) */
    async req(obj, ms = 8000) {
        await this.acquire();
        const id = Object.prototype.hasOwnProperty.call(obj, 'id') ? obj.id : this.nextId++;
        const from = this.frames.length;
        this.send(json({ ...obj, id }));
        return this.waitFor((f) => (f.type === 'result' || f.type === 'error' || f.type === 'authenticated') &&
            json(f.id) === json(id), ms, from, `an answer to ${obj.type} (id ${json(id)})`);
    }

    /* a request whose answer may come with its id or, refused before the id was read, with id null */
    async reqOrRefused(obj, ms = 8000) {
        await this.acquire();
        const id = Object.prototype.hasOwnProperty.call(obj, 'id') ? obj.id : this.nextId++;
        const from = this.frames.length;
        this.send(json({ ...obj, id }));
        return this.waitFor((f) => (f.type === 'result' || f.type === 'error' || f.type === 'authenticated') &&
            (json(f.id) === json(id) || (f.type === 'error' && f.id === null)), ms, from, `an answer to ${obj.type}`);
    }

    /* a frame the gateway refuses before reading an id: its error, id null */
    async raw(data, ms = 5000, opts) {
        await this.acquire();
        const from = this.frames.length;
        this.send(data, opts);
        return this.waitFor((f) => f.type === 'error' && f.id === null, ms, from, 'an error frame (id null)');
    }

    async auth(token, ms = 8000) {
        const a = await this.req({ type: 'authenticate', token }, ms);
        if (a.type === 'authenticated')
            this.profile = a.profile_id;
        return a;
    }

    /* a result's data, or an exception naming the error */
    async data(obj, ms) {
        const a = await this.req(obj, ms);
        if (a.type !== 'result')
            throw new Error(`${this.label}: ${obj.type} answered ${short(a)}`);
        return a.data;
    }

    events(pred = () => true, from = 0) {
        return this.frames.slice(from).filter((f) => f.type === 'event' && f.event && pred(f.event));
    }

    close() {
        try {
            this.ws.close(1000);
        } catch (e) { /* already */ }
    }

    terminate() {
        try {
            this.ws.terminate();
        } catch (e) { /* already */ }
    }
}

async function connect(label, url, opts) {
    const c = new Client(label, url, opts);
    await c.open();
    return c;
}

async function authed(label, url, token, opts) {
    const c = await connect(label, url, opts);
    const a = await c.auth(token);
    if (a.type !== 'authenticated')
        throw new Error(`${label}: authenticate answered ${short(a)}`);
    return c;
}

/* a handshake expected to fail: {opened, detail} */
async function tryHandshake(url, opts) {
    const c = new Client('probe', url, opts);
    try {
        await c.open(5000);
        c.close();
        return { opened: true, detail: `opened (subprotocol "${c.ws.protocol}")` };
    } catch (e) {
        c.terminate();
        return { opened: false, detail: e.message };
    }
}

const isErr = (a, sqlstate) => a && a.type === 'error' && a.sqlstate === sqlstate;
const isMessageEvent = (chat, seq) => (e) => e.type === 'message' && e.chat_id === chat && e.seq === seq;

async function retryUntil(fn, ms, stepMs = 250) {
    const until = Date.now() + ms;
    let last;
    let tries = 0;
    while (Date.now() < until) {
        tries++;
        try {
            last = await fn();
            if (last && last.ok)
                return { ...last, tries };
        } catch (e) {
            last = { ok: false, error: e.message };
        }
        await sleep(stepMs);
    }
    return { ...(last || { ok: false }), ok: false, tries };
}

/* ---------------------------------------------------------------- TAP */

const scenarios = [];
let testNo = 0;
let failures = 0;
let totalPlan = 0;

function emit(ok, desc, diag) {
    testNo++;
    if (!ok)
        failures++;
    console.log(`${ok ? 'ok' : 'not ok'} ${testNo} - ${desc}`);
    if (!ok && diag !== undefined)
        for (const line of String(diag).split('\n').slice(0, 30))
            console.log(`#   ${line}`);
}

function note(text) {
    for (const line of String(text).split('\n'))
        console.log(`# ${line}`);
}

class T {
    constructor(s) {
        this.s = s;
        this.n = 0;
        this.dead = false;
    }

    ok(cond, desc, diag) {
        if (this.dead)
            return !!cond;
        if (this.n >= this.s.plan) {
            failures++;
            note(`test error: scenario "${this.s.name}" reports more than its plan of ${this.s.plan}: ${desc}`);
            return !!cond;
        }
        this.n++;
        emit(!!cond, desc, typeof diag === 'function' ? diag() : diag);
        return !!cond;
    }

    is(got, want, desc) {
        const g = json(got);
        const w = json(want);
        return this.ok(g === w, desc, `got:  ${short(g, 600)}\nwant: ${short(w, 600)}`);
    }

    /* an answer that must be an error of this SQLSTATE */
    err(a, sqlstate, desc) {
        return this.ok(isErr(a, sqlstate), desc, `got: ${short(a, 600)}`);
    }

    /* an answer that must be a result */
    result(a, desc, pred = () => true) {
        let ok = false;
        try {
            ok = a && a.type === 'result' && pred(a.data);
        } catch (e) {
            ok = false;
        }
        return this.ok(ok, desc, `got: ${short(a, 600)}`);
    }
}

/* GATEWAY_TEST_ONLY=regex runs only the scenarios it matches (and setup), for debugging */
const ONLY = E.GATEWAY_TEST_ONLY ? new RegExp(E.GATEWAY_TEST_ONLY) : null;

function scenario(name, plan, fn, timeoutMs = 30000) {
    if (ONLY && name !== 'setup' && !ONLY.test(name))
        return;
    scenarios.push({ name, plan, fn, timeoutMs });
    totalPlan += plan;
}

/* ---------------------------------------------------------------- shared state */

const S = {};	/* the long-lived sockets: mia, leo, eve (main), grace */

/* ================================================================ scenarios */

scenario('setup', 1, async (t) => {
    const made = [];
    try {
        S.mia = await authed('mia', MAIN, TOKEN.mia);
        made.push('mia');
        S.leo = await authed('leo', MAIN, TOKEN.leo);
        made.push('leo');
        S.eve = await authed('eve', MAIN, TOKEN.eve);
        made.push('eve');
    } catch (e) {
        t.ok(false, 'Mia, Leo and Eve connect to the main gateway and authenticate', `${e.message} (made: ${made})`);
        throw e;
    }
    t.ok(S.mia.profile === ID.mia && S.leo.profile === ID.leo && S.eve.profile === ID.eve,
        'Mia, Leo and Eve connect to the main gateway and authenticate',
        `profiles: ${S.mia.profile} ${S.leo.profile} ${S.eve.profile}`);

    /* the grace socket: Mia with a 3 s token, checked at the end (scenario "grace") */
    S.grace = { started: Date.now() };
    try {
        const tok = await issueToken(ID.mia, '3 seconds');
        const g = await connect('grace', MAIN);
        S.grace.client = g;
        S.grace.auth = await g.auth(tok);
        S.grace.expired = g.waitFor((f) => f.type === 'expired', 20000, 0, 'an expired frame')
            .then((f) => { S.grace.expiredAt = f._at; return f; });
        S.grace.expired.catch(() => {});
    } catch (e) {
        S.grace.error = e.message;
    }
});

scenario('settings', 5, async (t) => {
    const { spawnSync } = require('child_process');
    const run = (args) => spawnSync(E.GATEWAY_BIN, args, { encoding: 'utf8', timeout: 5000 });
    let r = run(['--host', '10.1.2.3']);
    t.ok(r.status === 2 && /not a loopback address/.test(r.stderr),
        'a non-loopback --host is refused without --public', `${r.status} ${r.stderr}`);
    r = run(['--port', '70000']);
    t.ok(r.status === 2 && /port must be a whole number/.test(r.stderr), '--port 70000 is refused', `${r.status} ${r.stderr}`);
    const dir = fs.mkdtempSync('/tmp/stylist_chat_gwconf.');
    fs.writeFileSync(`${dir}/a.conf`, 'port = 1\nnonsense = 3\n');
    r = run(['--config', `${dir}/a.conf`]);
    t.ok(r.status === 2 && /a\.conf:2: unknown setting "nonsense"/.test(r.stderr),
        'an unknown setting in the config file is refused with its line', `${r.status} ${r.stderr}`);
    fs.writeFileSync(`${dir}/b.conf`, `origin = ${'x'.repeat(3000)}\n`);
    r = run([`--config=${dir}/b.conf`]);
    t.ok(r.status === 2 && /line longer than/.test(r.stderr), 'a config line too long is refused (--config=FILE)',
        `${r.status} ${r.stderr}`);
    fs.rmSync(dir, { recursive: true, force: true });
    r = run(['--help']);
    t.ok(r.status === 0 && /--pong-timeout/.test(r.stdout) && /--recheck/.test(r.stdout), '--help lists the settings',
        `${r.status}`);
});

scenario('handshake', 7, async (t) => {
    const before = await S.mia.data({ type: 'status' });
    let r = await tryHandshake(MAIN, { origin: 'http://evil.example' });
    t.ok(!r.opened, 'a handshake with Origin: http://evil.example is refused', r.detail);

    let detail = '';
    let ok = false;
    try {
        const c = await connect('origin-ok', MAIN, { origin: ORIGIN });
        const a = await c.auth(TOKEN.mia);
        ok = a.type === 'authenticated';
        detail = short(a);
        c.close();
    } catch (e) {
        detail = e.message;
    }
    t.ok(ok, `with the allowed Origin (${ORIGIN}) it opens and authenticates`, detail);

    ok = false;
    try {
        const c = await connect('no-origin', MAIN);
        const a = await c.auth(TOKEN.mia);
        ok = a.type === 'authenticated';
        detail = short(a);
        c.close();
    } catch (e) {
        detail = e.message;
    }
    t.ok(ok, 'without an Origin header it opens and authenticates', detail);

    r = await tryHandshake(MAIN, { protocol: null });
    t.ok(!r.opened, 'a handshake without the subprotocol stylist-chat is refused', r.detail);

    r = await tryHandshake(MAIN.replace(/\/ws$/, '/chat'), {});
    t.ok(!r.opened, 'a handshake on a path other than /ws is refused', r.detail);

    /* the refused handshakes are no connections: the count is what it was */
    await sleep(300);
    const after = await S.mia.data({ type: 'status' });
    t.ok(after.connections === before.connections && after.connections_total === before.connections_total + 2,
        'refused handshakes leave status connections as it was (the two accepted ones came and went)',
        `before: connections ${before.connections}, total ${before.connections_total}; ` +
        `after: connections ${after.connections}, total ${after.connections_total}`);
    const log = fs.readFileSync(E.GATEWAY_LOG, 'utf8');
    const stray = log.split('\n').filter((l) => /client 0: /.test(l));
    t.ok(stray.length === 0, 'and the log has no close line for a connection that never opened', stray.join('\n'));
});

scenario('authenticate', 10, async (t) => {
    const c = await connect('auth', MAIN);
    let a = await c.req({ type: 'inbox' });
    t.ok(isErr(a, '28000') && a.request === 'inbox', 'a request before authenticate gets 28000', short(a));
    a = await c.req({ type: 'status' });
    t.err(a, '28000', 'status before authenticate gets 28000 too');
    a = await c.req({ type: 'authenticate', token: 'not-a-token' });
    t.ok(isErr(a, '28000') && a.request === 'authenticate', 'a bad token gets 28000', short(a));
    const tampered = TOKEN.mia.slice(0, 60) + (TOKEN.mia[60] === 'A' ? 'B' : 'A') + TOKEN.mia.slice(61);
    a = await c.req({ type: 'authenticate', token: tampered });
    t.err(a, '28000', 'a tampered token gets 28000');

    a = await c.req({ type: 'authenticate', token: TOKEN.mia, id: 'auth-1' });
    const exp = Date.parse(a.expires_at);
    t.ok(c.isOpen && a.type === 'authenticated' && a.profile_id === ID.mia && a.id === 'auth-1' &&
        Math.abs(exp - (Date.now() + 3600e3)) < 600e3,
    'the socket stays open after bad tokens; a good one gets authenticated with the profile id, the id and expires_at',
    short(a));
    a = await c.req({ type: 'inbox' });
    t.result(a, 'then requests are answered', (d) => Array.isArray(d));

    const fresh = await issueToken(ID.mia);
    a = await c.req({ type: 'authenticate', token: fresh });
    t.ok(a.type === 'authenticated' && a.profile_id === ID.mia,
        'an authenticated socket authenticates again with a fresh token of its profile', short(a));

    /* a refused token on an authenticated socket (a failed refresh) */
    const c3 = await authed('auth-refresh', MAIN, TOKEN.mia);
    const mark = c3.frames.length;
    a = await c3.req({ type: 'authenticate', token: 'bad' + TOKEN.mia.slice(3) });
    const after = await c3.req({ type: 'inbox' });
    const toldExpired = c3.frames.slice(mark).some((f) => f.type === 'expired');
    t.ok(isErr(a, '28000') && (after.type === 'result' || toldExpired),
        'a refused refresh on an authenticated socket: it keeps its valid identity, or is told "expired"',
        `authenticate: ${short(a)}\nthen inbox: ${short(after)}\n"expired" frame: ${toldExpired}`);
    c3.close();

    const c2 = await connect('auth-2', MAIN);
    a = await c2.req({ type: 'authenticate', token: 'A'.repeat(300) });
    t.err(a, '28000', 'a token of 300 characters gets 28000');
    a = await c2.req({ type: 'authenticate', token: 12345 });
    t.err(a, '08P01', 'a token that is a JSON number gets 08P01');
    c2.close();
    c.close();
});

scenario('first-frame deadline', 2, async (t) => {
    const silent = await connect('silent', LIMITS, { rate: 4, burst: 4 });
    const started = Date.now();
    const live = await authed('limits-live', LIMITS, TOKEN.kim, { rate: 4, burst: 4 });
    let closed;
    try {
        closed = await silent.waitClose(AUTH_TIMEOUT * 1000 + 8000);
    } catch (e) {
        closed = { error: e.message };
    }
    const took = closed.at ? (closed.at - started) / 1000 : null;
    t.ok(closed.code === 1008 && took >= AUTH_TIMEOUT - 0.5,
        `a socket that sends nothing is closed with 1008 after --auth-timeout ${AUTH_TIMEOUT}`,
        `close: ${short(closed)}, after ${took} s`);
    await sleep(Math.max(0, started + (AUTH_TIMEOUT + 1.5) * 1000 - Date.now()));
    let a;
    try {
        a = await live.req({ type: 'inbox' });
    } catch (e) {
        a = { error: e.message };
    }
    t.ok(live.isOpen && a.type === 'result', 'an authenticated socket is not closed by that deadline', short(a));
    live.close();
});

scenario('every request type', 25, async (t) => {
    const { mia, leo } = S;
    let a = await mia.req({ type: 'inbox' });
    t.result(a, 'inbox: rows of chat.inbox() with the chat, the other participant and the name',
        (d) => d.some((r) => r.chat_id === CHAT_ML && r.other_id === ID.leo && r.other_name === 'Leo'));
    a = await mia.req({ type: 'inbox', max_rows: 1, archived: false, before_activity: '2100-01-01T00:00:00Z',
        before_chat_id: 'ffffffff-ffff-4fff-bfff-ffffffffffff' });
    t.result(a, 'inbox with max_rows, before_activity (a time string), before_chat_id, archived: one page',
        (d) => Array.isArray(d) && d.length === 1);
    a = await mia.req({ type: 'inbox', archived: true });
    t.result(a, 'inbox archived: true: an empty list', (d) => Array.isArray(d) && d.length === 0);
    a = await mia.req({ type: 'get_chat', chat_id: CHAT_ML });
    t.result(a, 'get_chat: the chat\'s row (customer_id, stylist_id, last_seq)',
        (d) => d.customer_id === ID.mia && d.stylist_id === ID.leo && Number.isInteger(d.last_seq));
    a = await mia.req({ type: 'bookings', chat_id: CHAT_ML });
    t.result(a, 'bookings: rows of chat.chat_bookings()',
        (d) => d.some((r) => r.booking_id === E.BOOKING_ID && r.service === 'Haircut'));

    const cmid = crypto.randomUUID();
    const s1 = await mia.req({ type: 'send', chat_id: CHAT_ML, body: 'Is the tangerine balayage still on?', client_msg_id: cmid });
    t.result(s1, 'send: the message\'s seq (a whole number)', (d) => Number.isInteger(d) && d > 0);
    const seq = s1.data;
    a = await mia.req({ type: 'send', chat_id: CHAT_ML, body: 'Is the tangerine balayage still on?', client_msg_id: cmid });
    t.ok(a.type === 'result' && a.data === seq, 'a retry of send with the same client_msg_id returns the same seq',
        `first ${short(s1)}, retry ${short(a)}`);
    const count = await psql(`SELECT count(*) FROM chat.chat_messages WHERE client_msg_id = '${cmid}'`);
    t.is(count, '1', 'and the message is stored once');

    const att = [{ storage_key: 'uploads/mia/look.jpg', content_type: 'image/jpeg', byte_size: 2048, width: 800, height: 600 }];
    const s2 = await mia.req({ type: 'send', chat_id: CHAT_ML, body: '', attachments: att, reply_to_seq: seq });
    t.result(s2, 'send with attachments (a JSON array) and reply_to_seq', (d) => d === seq + 1);
    a = await mia.req({ type: 'history', chat_id: CHAT_ML });
    t.result(a, 'history: rows newest first, the newest one with its attachment and the quoted message',
        (d) => d.length >= 3 && d.every((r, i) => i === 0 || d[i - 1].seq > r.seq) && d[0].seq === seq + 1 &&
            d[0].attachments.length === 1 && d[0].reply_to.seq === seq && d[1].body === 'Is the tangerine balayage still on?');
    a = await mia.req({ type: 'history', chat_id: CHAT_ML, before_seq: seq + 1, max_rows: 2 });
    t.result(a, 'history with before_seq and max_rows: the page below', (d) => d.length === 2 && d[0].seq === seq && d[1].seq === seq - 1);
    a = await mia.req({ type: 'since', chat_id: CHAT_ML, after_seq: seq - 2 });
    t.result(a, 'since: rows oldest first, above after_seq',
        (d) => d.length === 3 && d.map((r) => r.seq).join() === [seq - 1, seq, seq + 1].join());
    a = await mia.req({ type: 'search', chat_id: CHAT_ML, query: 'tangerine' });
    t.result(a, 'search finds a word of a message sent', (d) => d.length === 1 && d[0].seq === seq && /tangerine/.test(d[0].snippet));

    a = await leo.req({ type: 'pin', chat_id: CHAT_ML, seq, note: 'colour plan' });
    t.result(a, 'pin: null', (d) => d === null);
    a = await mia.req({ type: 'pinned', chat_id: CHAT_ML });
    t.result(a, 'pinned lists the pin (seq, note, pinned_by)',
        (d) => d.some((r) => r.seq === seq && r.note === 'colour plan' && r.pinned_by === ID.leo));
    a = await leo.req({ type: 'pin', chat_id: CHAT_ML, seq: seq + 1, expires_at: new Date(Date.now() + 86400e3).toISOString() });
    t.result(a, 'pin with expires_at (a time string)', (d) => d === null);
    a = await leo.req({ type: 'unpin', chat_id: CHAT_ML, seq });
    const pins = await mia.req({ type: 'pinned', chat_id: CHAT_ML });
    t.ok(a.type === 'result' && a.data === null && pins.type === 'result' && !pins.data.some((r) => r.seq === seq),
        'unpin: null, and the pin is gone', `unpin: ${short(a)}\npinned: ${short(pins)}`);

    a = await leo.req({ type: 'react', chat_id: CHAT_ML, seq, emoji: '👍' });
    t.result(a, 'react: the message\'s counts', (d) => json(d) === json({ '👍': 1 }));
    a = await leo.req({ type: 'unreact', chat_id: CHAT_ML, seq, emoji: '👍' });
    t.result(a, 'unreact: the counts without it', (d) => d !== null && typeof d === 'object' && !d['👍']);

    a = await leo.req({ type: 'read', chat_id: CHAT_ML, up_to_seq: seq });
    t.result(a, 'read: the read mark', (d) => d === seq);
    a = await leo.req({ type: 'ack', chat_id: CHAT_ML, seq });
    t.result(a, 'ack: the delivered mark', (d) => d === seq);
    a = await leo.req({ type: 'catch_up', received: null, max_rows: 5 });
    t.result(a, 'catch_up: rows of chat.catch_up() (chat_id, seq, body)',
        (d) => Array.isArray(d) && d.length <= 5 && d.every((r) => typeof r.chat_id === 'string' && Number.isInteger(r.seq)));
    a = await mia.req({ type: 'typing', chat_id: CHAT_MS });
    t.result(a, 'typing: null', (d) => d === null);
    a = await mia.req({ type: 'status' });
    t.result(a, 'status: the counters (an object)', (d) => d !== null && typeof d === 'object' && Number.isInteger(d.connections));

    /* requests of one socket run in the order sent: ten sends without waiting */
    const from = mia.frames.length;
    for (let i = 0; i < 10; i++) {
        await mia.acquire();
        mia.send(json({ type: 'send', chat_id: CHAT_MS, body: `in order ${i}`, id: `order-${i}` }));
    }
    let answers;
    try {
        await mia.waitFor((f) => f.id === 'order-9', 8000, from, 'the answer to the tenth send');
        await sleep(200);
        answers = Array.from({ length: 10 }, (_, i) => mia.frames.slice(from).find((f) => f.id === `order-${i}`));
    } catch (e) {
        answers = [{ error: e.message }];
    }
    const seqs = answers.map((f) => f && f.type === 'result' ? f.data : null);
    t.ok(seqs.length === 10 && seqs.every((x, i) => Number.isInteger(x) && (i === 0 || x === seqs[i - 1] + 1)),
        'ten sends in a row on one socket get consecutive seqs in the order sent', short(answers, 800));
});

scenario('errors', 29, async (t) => {
    const c = await authed('errors', MAIN, TOKEN.mia);
    const nowhere = crypto.randomUUID();
    const other = await c.req({ type: 'get_chat', chat_id: CHAT_KS });
    const none = await c.req({ type: 'get_chat', chat_id: nowhere });
    t.err(other, '42501', 'get_chat of a chat of others: 42501');
    t.err(none, '42501', 'get_chat of a chat that does not exist: 42501');
    /* the message may name the chat asked for: compare them with it left out */
    const unnamed = (a, chat) => String(a && a.message).split(chat).join('<chat>');
    t.ok(isErr(other, '42501') && unnamed(other, CHAT_KS) === unnamed(none, nowhere) && other.hint === none.hint,
    'with the same message (but for the id asked for) and hint: no way to tell that the chat exists', `${short(other)}\n${short(none)}`);
    const noneId = crypto.randomUUID();
    const h1 = await c.req({ type: 'history', chat_id: CHAT_KS });
    const h2 = await c.req({ type: 'history', chat_id: noneId });
    t.ok(isErr(h1, '42501') && isErr(h2, '42501') && unnamed(h1, CHAT_KS) === unnamed(h2, noneId),
        'history of a chat of others and of none: the same 42501', `${short(h1)}\n${short(h2)}`);

    let a = await c.req({ type: 'frobnicate', id: 'u1' });
    t.ok(isErr(a, '08P01') && a.id === 'u1', 'an unknown type: 08P01 (and the id echoed)', short(a));
    a = await c.req({ type: 'inbox', colour: 'red' });
    t.ok(isErr(a, '08P01') && /colour/.test(a.message), 'an unknown argument: 08P01 naming it', short(a));
    a = await c.req({ type: 'get_chat', chat_id: 42 });
    t.ok(isErr(a, '08P01') && /chat_id/.test(a.message), 'chat_id as a number: 08P01 naming it', short(a));
    a = await c.req({ type: 'ack', chat_id: CHAT_ML, seq: '1' });
    t.ok(isErr(a, '08P01') && /seq/.test(a.message), 'seq as a string: 08P01 naming it', short(a));
    a = await c.req({ type: 'inbox', max_rows: 1.5 });
    t.ok(isErr(a, '08P01') && /max_rows/.test(a.message), 'max_rows 1.5: 08P01', short(a));
    a = await c.req({ type: 'inbox', archived: 'yes' });
    t.ok(isErr(a, '08P01') && /archived/.test(a.message), 'archived "yes": 08P01', short(a));
    a = await c.req({ type: 'since', chat_id: CHAT_ML });
    t.ok(isErr(a, '08P01') && /after_seq/.test(a.message), 'a missing required argument (since without after_seq): 08P01', short(a));
    a = await c.req({ type: 'history', chat_id: CHAT_ML, max_rows: 201 });
    t.err(a, '22023', 'max_rows 201: 22023');
    a = await c.req({ type: 'history', chat_id: CHAT_ML, max_rows: 200 });
    t.result(a, 'max_rows 200 is taken', (d) => Array.isArray(d));
    a = await c.reqOrRefused({ type: 'send', chat_id: CHAT_ML, body: 'nul \u0000 inside' });
    t.err(a, '22P05', 'a string with \\u0000: 22P05');
    a = await c.req({ type: 'get_chat', chat_id: 'not-a-uuid' });
    t.err(a, '22P02', 'an invalid uuid string: 22P02 from the database');

    a = await c.raw('this is not json');
    t.err(a, '08P01', 'a frame that is not JSON: 08P01');
    a = await c.raw('[{"type":"status"}]');
    t.err(a, '08P01', 'a JSON array: 08P01');
    a = await c.raw('"status"');
    t.err(a, '08P01', 'a JSON string: 08P01');
    a = await c.raw('');
    t.err(a, '08P01', 'an empty frame: 08P01');
    const depth = Math.floor((MAX_FRAME - 100) / 2);
    a = await c.raw('['.repeat(depth) + ']'.repeat(depth));
    t.err(a, '08P01', `${depth} nested arrays (under --max-frame): 08P01`);
    a = await c.raw('{"type":"status","type":"inbox"}');
    t.err(a, '08P01', 'a duplicate key: 08P01');
    a = await c.req({ type: 'inbox' });
    t.result(a, 'the gateway still answers on that socket afterwards', (d) => Array.isArray(d));

    a = await c.req({ type: 'status', id: 4242 });
    t.ok(a.type === 'result' && a.id === 4242, 'a number id is echoed', short(a));
    const sid = 'req-é-✓-"q"';
    a = await c.req({ type: 'status', id: sid });
    t.ok(a.type === 'result' && a.id === sid, 'a string id is echoed (non-ASCII, quotes)', short(a));
    a = await c.req({ type: 'get_chat', chat_id: CHAT_KS, id: 'e-7' });
    t.ok(isErr(a, '42501') && a.id === 'e-7' && a.request === 'get_chat',
        'an error from the database echoes the id and names the request', short(a));
    const id64 = 'x'.repeat(64);
    a = await c.req({ type: 'status', id: id64 });
    t.ok(a.type === 'result' && a.id === id64, 'an id of 64 characters is taken', short(a));
    a = await c.raw(json({ type: 'status', id: 'x'.repeat(65) }));
    t.err(a, '08P01', 'an id of 65 characters is refused: 08P01');
    const bad = [];
    for (const id of [1.5, true, { a: 1 }, [1]]) {
        const r = await c.raw(json({ type: 'status', id }));
        if (!isErr(r, '08P01'))
            bad.push(`${json(id)} -> ${short(r)}`);
    }
    t.ok(bad.length === 0, 'an id that is not a string or a whole number is refused: 08P01', bad.join('\n'));
    a = await c.req({ type: 'inbox' });
    t.ok(c.isOpen && a.type === 'result', 'after all of these the socket is open and answered', short(a));
    c.close();
});

scenario('frames', 10, async (t) => {
    /* a binary frame that holds a request */
    {
        const c = await authed('binary', MAIN, TOKEN.mia);
        const from = c.frames.length;
        c.send(Buffer.from(json({ type: 'status', id: 'bin' })), { binary: true });
        let outcome;
        try {
            const f = await c.waitFor((x) => x.type === 'result' || x.type === 'error', 3000, from, 'an answer');
            outcome = f;
        } catch (e) {
            outcome = { closed: c.closed, note: e.message };
        }
        const refused = (outcome.type === 'error' && outcome.sqlstate === '08P01') ||
            (outcome.closed && outcome.closed.code === 1003);
        t.ok(refused, 'a binary frame is not a request: 08P01, or a close with 1003',
            `got: ${short(outcome)}`);
        c.terminate();
    }
    /* a large frame under the limit, which the gateway receives in pieces */
    {
        const c = await authed('large', MAIN, TOKEN.mia);
        const body = 'b'.repeat(MAX_FRAME - 2000);
        const a = await c.req({ type: 'send', chat_id: CHAT_ML, body });
        t.err(a, '22001', `a frame of ${MAX_FRAME - 1900} bytes (under --max-frame) is read whole: the database says 22001`);
        /* a message in three fragments */
        const text = json({ type: 'inbox', id: 'frag' });
        const from = c.frames.length;
        c.send(text.slice(0, 5), { fin: false });
        c.send(text.slice(5, 12), { fin: false });
        c.send(text.slice(12), { fin: true });
        let f;
        try {
            f = await c.waitFor((x) => x.id === 'frag', 5000, from, 'the answer to a fragmented request');
        } catch (e) {
            f = { error: e.message };
        }
        t.result(f, 'a request in three fragments is answered', (d) => Array.isArray(d));
        c.close();
    }
    /*
     * Over the limit: one frame, fragments that add up, thousands of small
     * fragments.  Each case on ROUNDS sockets at once: every one of them
     * must be closed with 1009 (a close frame that is sent only sometimes
     * shows up here).
     */
    const ROUNDS = 10;
    const oversized = async (label, sendAll) => {
        const socks = await Promise.all(Array.from({ length: ROUNDS }, (_, i) => authed(`${label}-${i}`, MAIN, TOKEN.mia)));
        for (const c of socks)
            sendAll(c);
        const codes = await Promise.all(socks.map((c) => c.waitClose(5000).then((x) => x.code, () => 'open')));
        return { ok: codes.every((x) => x === 1009), codes: codes.join(' ') };
    };
    let o = await oversized('oversized', (c) => c.send(json({ type: 'send', chat_id: CHAT_ML, body: 'o'.repeat(MAX_FRAME + 1000) })));
    t.ok(o.ok, `a frame over --max-frame (${MAX_FRAME}) closes the socket with 1009 (${ROUNDS} sockets)`, `close codes: ${o.codes}`);
    o = await oversized('fragments', (c) => {
        const piece = 'f'.repeat(10000);
        c.send('{"type":"send","body":"', { fin: false });
        for (let i = 0; i < 7; i++)
            c.send(piece, { fin: false });
        c.send('"}', { fin: true });
    });
    t.ok(o.ok, `fragments that add up to more than --max-frame close the socket with 1009 (${ROUNDS} sockets)`, `close codes: ${o.codes}`);
    o = await oversized('many-fragments', (c) => {
        c.send('[', { fin: false });
        for (let i = 0; i < 3000; i++)
            c.send('0,', { fin: false });
        /* 6 KB so far, in 3001 fragments; then past the limit in small ones */
        const piece = '1,'.repeat(500);
        for (let i = 0; i < 70; i++)
            c.send(piece, { fin: false });
        c.send('0]', { fin: true });
    });
    t.ok(o.ok, `thousands of small fragments past --max-frame: 1009 (${ROUNDS} sockets)`, `close codes: ${o.codes}`);
    /* invalid UTF-8 in a text frame */
    {
        const c = await authed('utf8', MAIN, TOKEN.mia);
        const from = c.frames.length;
        c.send(Buffer.from([0x7b, 0x22, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), { binary: false });
        let outcome;
        try {
            outcome = await c.waitFor((x) => x.type === 'result' || x.type === 'error', 3000, from, 'an answer');
        } catch (e) {
            outcome = { closed: c.closed, note: e.message };
        }
        t.ok((outcome.closed && outcome.closed.code === 1007) || isErr(outcome, '08P01'),
            'a text frame that is not UTF-8: closed with 1007 (or 08P01)', short(outcome));
        c.terminate();
    }
    {
        const c = await authed('status-after', MAIN, TOKEN.mia);
        const st = await c.data({ type: 'status' });
        t.ok(st.closed_oversized >= 3 * ROUNDS, 'status counts the sockets closed for oversized frames (closed_oversized)', short(st));
        c.close();
    }
    /* 100000 nested arrays, on the gateway whose --max-frame lets them through */
    {
        const c = await authed('nested-slow', SLOW, TOKEN.kim, { rate: false });
        const depth = 100000;
        let a;
        try {
            a = await c.raw('['.repeat(depth) + ']'.repeat(depth), 8000);
        } catch (e) {
            a = { error: e.message, closed: c.closed };
        }
        t.err(a, '08P01', `${depth} nested arrays (a frame of ${2 * depth} bytes, --max-frame ${SLOW_MAX_FRAME}): 08P01`);
        let b;
        try {
            b = await authed('nested-slow-2', SLOW, TOKEN.kim, { rate: false }).then((x) => x.req({ type: 'inbox' }));
        } catch (e) {
            b = { error: e.message };
        }
        t.ok(b.type === 'result' && c.isOpen, 'and that gateway still answers afterwards', short(b));
        c.close();
    }
});

scenario('token expiry', 8, async (t) => {
    const [tok1, tok2] = [await issueToken(ID.mia, '3 seconds'), await issueToken(ID.mia, '3 seconds')];
    const x1 = await connect('expiring-1', MAIN);
    const x2 = await connect('expiring-2', MAIN);
    let a = await x1.auth(tok1);
    const b = await x2.auth(tok2);
    t.ok(a.type === 'authenticated' && b.type === 'authenticated' && Date.parse(a.expires_at) - Date.now() < 10e3,
        'a token of 3 seconds authenticates (expires_at says so)', `${short(a)}\n${short(b)}`);
    let exp;
    try {
        exp = await x1.waitFor((f) => f.type === 'expired', 12000, 0, 'an expired frame');
        await x2.waitFor((f) => f.type === 'expired', 5000, 0, 'an expired frame');
    } catch (e) {
        exp = { error: e.message };
    }
    t.ok(exp.type === 'expired', 'when it expires, the socket gets {"type":"expired"}', short(exp));
    a = await x1.req({ type: 'inbox' });
    t.err(a, '28000', 'then requests get 28000');
    const fresh = await issueToken(ID.mia);
    a = await x1.auth(fresh);
    t.ok(a.type === 'authenticated' && a.profile_id === ID.mia,
        'authenticating again with a fresh token of the same profile: authenticated', short(a));
    a = await x1.req({ type: 'get_chat', chat_id: CHAT_ML });
    t.result(a, 'and requests work again', (d) => d.customer_id === ID.mia);

    /* another profile on that socket (authenticated) and on an expired one */
    const from = x1.frames.length;
    x1.send(json({ type: 'authenticate', token: TOKEN.eve, id: 'other' }));
    let cl1;
    try {
        cl1 = await x1.waitClose(5000);
    } catch (e) {
        cl1 = { error: e.message };
    }
    const answer = x1.frames.slice(from).find((f) => f.id === 'other');
    t.ok(cl1.code === 4001 && !x1.frames.slice(from).some((f) => f.type === 'authenticated'),
        'a fresh token of another profile on that socket: refused, and the socket closed with 4001',
        `close: ${short(cl1)}; frames: ${short(x1.frames.slice(from))}`);
    t.ok(isErr(answer, '28000'), 'that authenticate is answered with an error 28000 before the close',
        `frames after the authenticate: ${short(x1.frames.slice(from))}`);
    x2.send(json({ type: 'authenticate', token: TOKEN.eve }));
    let cl2;
    try {
        cl2 = await x2.waitClose(5000);
    } catch (e) {
        cl2 = { error: e.message };
    }
    t.ok(cl2.code === 4001 && !x2.frames.some((f) => f.type === 'authenticated' && f.profile_id === ID.eve),
        'on an expired socket, a token of another profile closes it with 4001 too', short(cl2));
});

scenario('revoked token', 4, async (t) => {
    const k = await authed('kim', MAIN, TOKEN.kim);
    let a = await k.req({ type: 'inbox' });
    t.result(a, 'Kim\'s socket answers', (d) => d.some((r) => r.chat_id === CHAT_KS));
    await psql(`SELECT chat.revoke_tokens('${ID.kim}');`);
    const from = k.frames.length;
    a = await k.req({ type: 'inbox' });
    t.err(a, '28000', 'after chat.revoke_tokens(), the next request gets 28000');
    let exp;
    try {
        exp = await k.waitFor((f) => f.type === 'expired', 5000, from, 'an expired frame');
    } catch (e) {
        exp = { error: e.message };
    }
    t.ok(exp.type === 'expired', 'and the socket is told "expired"', short(exp));
    TOKEN.kim = await issueToken(ID.kim);
    a = await k.auth(TOKEN.kim);
    const b = await k.req({ type: 'inbox' });
    t.ok(a.type === 'authenticated' && b.type === 'result', 'a token issued after the revocation works on that socket',
        `${short(a)}\n${short(b)}`);
    k.close();
});

scenario('real-time', 6, async (t) => {
    const { mia, leo } = S;
    const lf = leo.frames.length;
    const mf = mia.frames.length;
    const s = await mia.data({ type: 'send', chat_id: CHAT_ML, body: 'realtime hello' });
    let ev;
    try {
        ev = await leo.waitFor((f) => f.type === 'event' && isMessageEvent(CHAT_ML, s)(f.event), 5000, lf, `the event of message ${s}`);
    } catch (e) {
        ev = { error: e.message };
    }
    t.ok(ev.event && ev.event.sender_id === ID.mia,
        'Mia sends: Leo\'s socket gets an event of type message with the chat id, the seq and the sender', short(ev));
    t.ok(ev.event && json(Object.keys(ev.event).sort()) === json(['chat_id', 'sender_id', 'seq', 'ts', 'type']) &&
        typeof ev.event.ts === 'string' && Object.keys(ev).filter((k) => k[0] !== '_').sort().join() === 'event,type',
    'the event frame is {"type":"event","event":{type, chat_id, seq, sender_id, ts}}', short(ev));
    let own;
    try {
        own = await mia.waitFor((f) => f.type === 'event' && isMessageEvent(CHAT_ML, s)(f.event), 5000, mf, 'her own message event');
    } catch (e) {
        own = { error: e.message };
    }
    t.ok(own.type === 'event', 'Mia\'s socket gets it too (both participants are notified)', short(own));
    const rows = await leo.data({ type: 'since', chat_id: CHAT_ML, after_seq: s - 1 });
    t.ok(rows.length === 1 && rows[0].seq === s && rows[0].body === 'realtime hello',
        'Leo fetches it with since', short(rows));

    const lf2 = leo.frames.length;
    await mia.data({ type: 'typing', chat_id: CHAT_ML });
    let ty;
    try {
        ty = await leo.waitFor((f) => f.type === 'event' && f.event.type === 'typing' && f.event.chat_id === CHAT_ML, 5000, lf2, 'a typing event');
    } catch (e) {
        ty = { error: e.message };
    }
    t.ok(ty.event && ty.event.sender_id === ID.mia, 'typing by Mia reaches Leo as a typing event', short(ty));

    const mf2 = mia.frames.length;
    const mark = await leo.data({ type: 'read', chat_id: CHAT_ML, up_to_seq: s });
    let rd;
    try {
        rd = await mia.waitFor((f) => f.type === 'event' && f.event.type === 'read' && f.event.chat_id === CHAT_ML && f.event.seq === s, 5000, mf2, 'a read event');
    } catch (e) {
        rd = { error: e.message };
    }
    t.ok(mark === s && rd.event && rd.event.sender_id === ID.leo, 'read by Leo reaches Mia as a read event with the mark',
        `read: ${mark}, event: ${short(rd)}`);
});

scenario('another user\'s chat', 9, async (t) => {
    const { eve } = S;
    const seq = (await S.mia.data({ type: 'get_chat', chat_id: CHAT_ML })).last_seq;
    const reqs = [
        ['history', { type: 'history', chat_id: CHAT_ML }],
        ['since', { type: 'since', chat_id: CHAT_ML, after_seq: 0 }],
        ['get_chat', { type: 'get_chat', chat_id: CHAT_ML }],
        ['search', { type: 'search', chat_id: CHAT_ML, query: 'tangerine' }],
        ['pin', { type: 'pin', chat_id: CHAT_ML, seq }],
        ['react', { type: 'react', chat_id: CHAT_ML, seq, emoji: '👍' }],
        ['send', { type: 'send', chat_id: CHAT_ML, body: 'let me in' }],
        ['typing', { type: 'typing', chat_id: CHAT_ML }],
        ['read', { type: 'read', chat_id: CHAT_ML }],
    ];
    for (const [name, r] of reqs) {
        const a = await eve.req(r);
        t.err(a, '42501', `Eve's ${name} on the Mia-Leo chat: 42501`);
    }
});

scenario('forged notifications', 7, async (t) => {
    const { mia, leo, eve } = S;
    const channel = await sqlAs(ID.mia, 'SELECT chat.listen_channel();');
    if (!/^chat_[0-9a-f]{40}$/.test(channel))
        throw new Error(`Mia's channel: ${channel}`);
    const before = await mia.req({ type: 'status' });
    const ts = '2030-01-01 10:00:00+00';
    const good = (seq, extra = {}) => json({ type: 'message', chat_id: CHAT_ML, seq, sender_id: ID.leo, ts, ...extra });
    const payloads = [
        ['not JSON', 'this is {not json'],
        ['an unknown type', json({ type: 'bogus', chat_id: CHAT_ML, seq: 900007, sender_id: ID.leo, ts })],
        ['extra fields', good(900001, { body: 'forged secret', extra: { admin: true }, sender_name: 'Leo' })],
        ['a payload of 7000 bytes', good(900002, { pad: 'p'.repeat(7000 - good(900002).length - 10) })],
        ['a chat_id of 200 characters', json({ type: 'message', chat_id: 'c'.repeat(200), seq: 900004, sender_id: ID.leo, ts })],
        ['seq as a string', json({ type: 'message', chat_id: CHAT_ML, seq: '900005', sender_id: ID.leo, ts })],
        ['a JSON array', json([{ type: 'message', chat_id: CHAT_ML, seq: 900006, sender_id: ID.leo, ts }])],
        ['a valid-looking one', good(900003)],
        ['the last one', good(900009)],
    ];
    const ignoredExpected = 6;
    const mf = mia.frames.length;
    const script = payloads.map(([, p]) => `SELECT pg_notify('${channel}', $forged$${p}$forged$);`).join('\n');
    await psql(`\\o /dev/null\n${script}\n`);
    let last;
    try {
        last = await mia.waitFor((f) => f.type === 'event' && f.event.seq === 900009, 5000, mf, 'the last forged event');
    } catch (e) {
        last = { error: e.message };
    }
    const after = await mia.req({ type: 'status' });
    t.ok(last.type === 'event' && after.type === 'result',
        'the gateway lives on, and delivers a valid-looking NOTIFY on Mia\'s channel to her socket', `${short(last)}\n${short(after)}`);
    const got = mia.events(() => true, mf);
    const ev1 = got.find((e) => e.event.seq === 900001);
    t.ok(ev1 && json(ev1.event) === json({ type: 'message', chat_id: CHAT_ML, seq: 900001, sender_id: ID.leo, ts }),
        'a payload with extra fields is rebuilt from the known fields only', short(ev1));
    const ev3 = got.find((e) => e.event.seq === 900003);
    t.ok(ev3 && json(ev3.event) === json({ type: 'message', chat_id: CHAT_ML, seq: 900003, sender_id: ID.leo, ts }),
        'a valid-looking payload arrives as a well-formed event', short(ev3));
    const wrong = mia.frames.slice(mf).filter((f) => f.type === 'event' && ![900001, 900003, 900009].includes(f.event.seq) &&
        (f.event.seq >= 900000 || json(f).includes('900005') || f.event.type === 'bogus'));
    const leaked = mia.frames.slice(mf).filter((f) => /forged secret|pppppppp|bogus|admin/.test(json(f)));
    t.ok(wrong.length === 0 && leaked.length === 0, 'none of the malformed payloads reach Mia, and no extra field does',
        short(wrong.concat(leaked)));
    await sleep(500);
    const leoGot = leo.frames.filter((f) => f.type === 'event' && f.event.seq >= 900000);
    t.ok(leoGot.length === 0, 'Leo\'s socket gets none of them (they were on Mia\'s channel)', short(leoGot));
    const eveGot = eve.frames.filter((f) => f.type === 'event' && f.event.seq >= 900000);
    t.ok(eveGot.length === 0, 'Eve\'s socket gets none of them', short(eveGot));
    const grew = after.data.events_ignored - before.data.events_ignored;
    t.ok(grew >= ignoredExpected, `status counts the ${ignoredExpected} ignored ones in events_ignored`,
        `events_ignored ${before.data.events_ignored} -> ${after.data.events_ignored}`);
});

scenario('catch-up without gaps', 5, async (t) => {
    const { leo } = S;
    const m1 = await authed('mia-offline', MAIN, TOKEN.mia);
    m1.close();
    await m1.waitClose(5000);
    const seqs = [];
    for (let i = 1; i <= 20; i++)
        seqs.push(await leo.data({ type: 'send', chat_id: CHAT_ML, body: `while you were away ${i}` }));
    const expected = (await sqlAs(ID.mia, 'SELECT chat_id || \':\' || seq FROM chat.catch_up(NULL, 1000);'))
        .split('\n').filter((x) => x !== '');
    const m2 = await authed('mia-back', MAIN, TOKEN.mia);
    const got = [];
    let received = null;
    let ended = false;
    let calls = 0;
    for (; calls < 60; calls++) {
        const rows = await m2.data({ type: 'catch_up', received, max_rows: 7 });
        if (rows.length === 0) {
            ended = true;
            break;
        }
        const top = {};
        for (const r of rows) {
            got.push(`${r.chat_id}:${r.seq}`);
            top[r.chat_id] = Math.max(top[r.chat_id] || 0, r.seq);
        }
        received = Object.entries(top).map(([chat_id, seq]) => ({ chat_id, seq }));
    }
    const mine = got.filter((k) => k.startsWith(CHAT_ML + ':')).map((k) => +k.split(':')[1]);
    t.ok(seqs.every((s) => mine.includes(s)), 'Mia reconnects and catches up: all 20 messages sent while away',
        `sent ${seqs}, got ${mine}`);
    const dups = got.filter((k, i) => got.indexOf(k) !== i);
    t.ok(dups.length === 0, 'each exactly once', `twice: ${dups}`);
    t.is(got.slice().sort(), expected.slice().sort(), 'and exactly what the database had for her (no gap, nothing more)');
    t.ok(ended, `the loop ends with an empty batch (${calls + 1} calls)`, `calls: ${calls}`);
    const chat = await leo.data({ type: 'get_chat', chat_id: CHAT_ML });
    t.ok(chat.other_delivered_seq >= seqs[seqs.length - 1], 'Leo sees them delivered (other_delivered_seq)', short(chat));
    m2.close();
});

scenario('live events exactly once', 2, async (t) => {
    const { leo } = S;
    const m = await authed('mia-live', MAIN, TOKEN.mia);
    const seqs = [];
    for (let i = 1; i <= 50; i++)
        seqs.push(await leo.data({ type: 'send', chat_id: CHAT_ML, body: `live ${i}` }));
    const last = seqs[seqs.length - 1];
    try {
        await m.waitFor((f) => f.type === 'event' && isMessageEvent(CHAT_ML, last)(f.event), 5000, 0, 'the last event');
    } catch (e) { /* counted below */ }
    await sleep(1000);
    const evs = m.events((e) => e.type === 'message' && e.chat_id === CHAT_ML).map((f) => f.event.seq);
    const missing = seqs.filter((s) => !evs.includes(s));
    t.ok(missing.length === 0, 'the 50 messages Leo sends while Mia is connected all arrive as events',
        `missing: ${missing}`);
    const twice = evs.filter((s, i) => evs.indexOf(s) !== i);
    t.ok(twice.length === 0, 'each exactly once', `twice: ${twice}`);
    m.close();
});

scenario('flood', 5, async (t) => {
    const o = await authed('limits-other', LIMITS, TOKEN.leo, { rate: LIMITS_RATE - 1, burst: LIMITS_BURST - 1 });
    const f = await authed('flooder', LIMITS, TOKEN.sam, { rate: false });
    /* phase 1: a few more than the burst at once (fewer refusals than --rate) */
    const from = f.frames.length;
    const n1 = LIMITS_BURST + 3;
    for (let i = 1; i <= n1; i++)
        f.send(json({ type: 'status', id: i }));
    try {
        await f.waitFor(() => f.frames.slice(from).filter((x) => x.type === 'result' || x.type === 'error').length >= n1, 5000, from, `${n1} answers`);
    } catch (e) { /* counted below */ }
    const answers = f.frames.slice(from);
    const results = answers.filter((x) => x.type === 'result').length;
    const limited = answers.filter((x) => isErr(x, '53400'));
    t.ok(f.isOpen && results >= 1 && results <= LIMITS_BURST && limited.length >= 1 && results + limited.length === n1,
        `--burst ${LIMITS_BURST}: of ${n1} requests at once, those beyond the burst get 53400`,
        `results ${results}, 53400: ${limited.length}, open: ${f.isOpen}, frames: ${short(answers, 800)}`);
    t.ok(limited.length >= 1 && limited.every((x) => Number.isInteger(x.id) && x.id >= 1 && x.id <= n1),
        'a 53400 refusal repeats the id of the request it refuses', short(limited, 800));
    await sleep(1500);
    /* phase 2: a flood; meanwhile another client of that gateway */
    for (let i = 0; i < LIMITS_RATE * 8; i++)
        f.send(json({ type: 'status', id: 1000 + i }));
    let oa;
    try {
        oa = await o.req({ type: 'inbox' });
    } catch (e) {
        oa = { error: e.message };
    }
    let cl;
    try {
        cl = await f.waitClose(5000);
    } catch (e) {
        cl = { error: e.message };
    }
    t.ok(cl.code === 4003, `a client refused more than --rate (${LIMITS_RATE}) times within a second is closed with 4003`, short(cl));
    t.ok(oa.type === 'result' && o.isOpen, 'another client of that gateway is answered meanwhile', short(oa));
    const st = await o.data({ type: 'status' });
    t.ok(st.closed_floods >= 1 && st.rate_limited >= limited.length, 'status counts rate_limited and closed_floods', short(st));
    o.close();
});

scenario('slow consumer', 5, async (t) => {
    const pid = parseInt(E.GATEWAY_SLOW_PID, 10);
    const obs = await authed('slow-observer', SLOW, TOKEN.kim, { rate: false });
    const cons = await authed('slow-consumer', SLOW, TOKEN.sam, { rate: false });
    const st0 = await obs.data({ type: 'status' });
    const rss0 = vmRssKb(pid);
    let peak = rss0;
    const sampler = setInterval(() => { const r = vmRssKb(pid); if (r !== null && r > peak) peak = r; }, 50);
    try {
        cons.ws._socket.pause();
        /* large answers (history of 200 messages of ~3800 characters: ~800 KB each) ... */
        let requested = 0;
        const ask = (n) => {
            for (let i = 0; i < n; i++) {
                cons.ws.send(json({ type: 'history', chat_id: CHAT_MS, max_rows: 200, id: `h${requested}` }));
                requested++;
            }
        };
        ask(40);
        /* ... and events: Mia writes to Sam */
        await sqlAs(ID.mia, `SELECT count(chat.send_message('${CHAT_MS}', 'to a slow reader ' || k)) FROM generate_series(1, 30) k;`);
        let st = st0;
        let observerOk = true;
        const until = Date.now() + 15000;
        while (Date.now() < until) {
            const a = await obs.req({ type: 'status' }, 3000).catch((e) => ({ error: e.message }));
            if (a.type !== 'result')
                observerOk = false;
            else
                st = a.data;
            if (st.dropped_slow_consumers > st0.dropped_slow_consumers)
                break;
            await sleep(200);
        }
        t.ok(st.dropped_slow_consumers > st0.dropped_slow_consumers,
            'a client that stops reading while its answers and events pile up is dropped (dropped_slow_consumers grows)',
            `dropped_slow_consumers ${st0.dropped_slow_consumers} -> ${st.dropped_slow_consumers}`);
        /* more of the same while it stays stuck */
        if (cons.ws.readyState === WebSocket.OPEN)
            ask(40);
        await sqlAs(ID.mia, `SELECT count(chat.send_message('${CHAT_MS}', 'more for the slow reader ' || k)) FROM generate_series(1, 30) k;`);
        for (let i = 0; i < 10; i++) {
            const a = await obs.req({ type: 'status' }, 3000).catch((e) => ({ error: e.message }));
            if (a.type !== 'result')
                observerOk = false;
            await sleep(200);
        }
        t.ok(observerOk, 'another client of that gateway is answered all along', '');
        const grew = peak - rss0;
        note(`slow gateway VmRSS: ${rss0} kB before, peak ${peak} kB (+${grew} kB); ${requested} answers of ~800 kB asked for`);
        t.ok(rss0 !== null && grew < 40 * 1024,
            `the gateway's memory does not grow with what the stuck client does not read (VmRSS +${Math.round(grew / 1024)} MB, ${requested} x ~0.8 MB asked)`,
            `VmRSS ${rss0} kB -> peak ${peak} kB`);
    } finally {
        clearInterval(sampler);
    }
    cons.ws._socket.resume();
    let cl;
    try {
        cl = await cons.waitClose(10000);
    } catch (e) {
        cl = { error: e.message };
    }
    t.ok(cl.code === 4002 || cl.code === 1006, 'when it reads again, it finds its socket closed (4002, or cut)', short(cl));
    const log = fs.readFileSync(E.GATEWAY_LOG.replace(/main\.log$/, 'slow.log'), 'utf8');
    t.ok(/slow consumer/.test(log), 'the gateway\'s log says so', '');
    obs.close();
}, 45000);

scenario('status', 4, async (t) => {
    const { mia } = S;
    const s1 = await mia.data({ type: 'status' });
    const s2 = await mia.data({ type: 'status' });
    const keys = ['connections', 'connections_total', 'frames_in', 'frames_out', 'requests', 'errors', 'events_routed',
        'events_ignored', 'dropped_slow_consumers', 'rate_limited', 'closed_floods', 'closed_oversized', 'profiles', 'db_connections'];
    const bad = keys.filter((k) => !Number.isInteger(s2[k]) || s2[k] < 0);
    t.ok(bad.length === 0, 'status has the counters as whole numbers', `not whole numbers: ${bad}; ${short(s2, 800)}`);
    const mine = allClients.filter((c) => c.url === MAIN && c.isOpen).length;
    t.ok(s2.connections >= mine && s2.connections_total >= s2.connections,
        `connections counts the open sockets (at least the ${mine} of this test)`, short(s2, 800));
    t.ok(s2.frames_in > s1.frames_in && s2.frames_out > s1.frames_out && s2.events_routed > 0,
        'frames_in and frames_out grow; events_routed counts', `${short(s1, 600)}\n${short(s2, 600)}`);
    t.ok(s2.db_connections >= 1 && s2.db_connections <= POOL + 1 && s2.dropped_slow_consumers === 0,
        `db_connections is at most --pool + 1 (${POOL + 1}); nothing dropped on this gateway`, short(s2, 800));
});

function resyncs(clients, marks) {
    return clients.map((c, i) => c.waitFor((f) => f.type === 'resync', 15000, marks[i], `${c.label}: a resync frame`)
        .then(() => null, (e) => e.message));
}

async function dbConnections(c, want, ms) {
    const r = await retryUntil(async () => {
        const st = await c.data({ type: 'status' });
        return { ok: st.db_connections === want, st };
    }, ms, 300);
    return r;
}

scenario('listening connection lost', 4, async (t) => {
    const { mia, leo, eve } = S;
    const pids = (await psql(`SELECT pid FROM pg_stat_activity WHERE application_name = '${E.GATEWAY_APPNAME}'
        AND usename = 'gateway_login' AND query ~ '^(UN)?LISTEN '`)).split('\n').filter((x) => x);
    t.ok(pids.length === 1, 'the gateway\'s listening connection is found in pg_stat_activity', `pids: ${pids}`);
    const clients = [mia, leo, eve];
    const marks = clients.map((c) => c.frames.length);
    await psql(`SELECT pg_terminate_backend(${pids[0] || 0});`);
    const missing = (await Promise.all(resyncs(clients, marks))).filter((x) => x);
    t.ok(missing.length === 0, 'terminated: every authenticated client gets {"type":"resync"}', missing.join('\n'));
    const lf = leo.frames.length;
    const s = await mia.data({ type: 'send', chat_id: CHAT_ML, body: 'after the listener came back' });
    let ev;
    try {
        ev = await leo.waitFor((f) => f.type === 'event' && isMessageEvent(CHAT_ML, s)(f.event), 5000, lf, `the event of ${s}`);
    } catch (e) {
        ev = { error: e.message };
    }
    t.ok(ev.type === 'event', 'events flow again afterwards', short(ev));
    const r = await dbConnections(mia, POOL + 1, 10000);
    t.ok(r.ok, `db_connections is back to ${POOL + 1}`, short(r));
});

scenario('pool connection lost', 4, async (t) => {
    const { mia, leo, eve } = S;
    const poolPids = async () => (await psql(`SELECT pid FROM pg_stat_activity WHERE application_name = '${E.GATEWAY_APPNAME}'
        AND usename = 'gateway_login' AND query !~ '^(UN)?LISTEN ' ORDER BY pid`)).split('\n').filter((x) => x);
    let pids = await poolPids();
    t.ok(pids.length === POOL, `the gateway's ${POOL} pool connections are found`, `pids: ${pids}`);
    await psql(`SELECT pg_terminate_backend(${pids[0] || 0});`);
    const outcomes = await Promise.all([mia, leo, eve].map((c) => retryUntil(async () => {
        const a = await c.req({ type: 'inbox' });
        return { ok: a.type === 'result', a: short(a) };
    }, 8000)));
    t.ok(outcomes.every((o) => o.ok), 'one pool connection terminated: every client\'s requests work again (after a retry at most)',
        short(outcomes, 800));
    pids = await poolPids();
    await psql(`SELECT pg_terminate_backend(pid) FROM unnest('{${pids.join(',')}}'::int[]) pid;`);
    const again = await retryUntil(async () => {
        const a = await mia.req({ type: 'inbox' });
        return { ok: a.type === 'result', a: short(a) };
    }, 8000);
    t.ok(again.ok, `all of them terminated: requests work again within a few seconds (${again.tries} tries)`, short(again));
    const r = await dbConnections(mia, POOL + 1, 10000);
    t.ok(r.ok, `db_connections is back to ${POOL + 1}`, short(r));
});

scenario('database restart', 5, async (t) => {
    const { mia, leo, eve } = S;
    const clients = [mia, leo, eve];
    const marks = clients.map((c) => c.frames.length);
    const r = await runShell(E.DB_RESTART_CMD, 90000);
    t.ok(r.code === 0, 'the database server restarts (pg_ctl restart -m fast)', r.out);
    const missing = (await Promise.all(resyncs(clients, marks))).filter((x) => x);
    t.ok(missing.length === 0, 'the gateway reconnects: every authenticated client gets {"type":"resync"}', missing.join('\n'));
    const lf = leo.frames.length;
    const sent = await retryUntil(async () => {
        const a = await mia.req({ type: 'send', chat_id: CHAT_ML, body: 'after the restart' });
        return { ok: a.type === 'result', a };
    }, 15000, 300);
    t.ok(sent.ok, `a message is sent after the restart (${sent.tries} tries)`, short(sent));
    let ev = { error: 'not sent' };
    if (sent.ok) {
        try {
            ev = await leo.waitFor((f) => f.type === 'event' && isMessageEvent(CHAT_ML, sent.a.data)(f.event), 5000, lf, 'its event');
        } catch (e) {
            ev = { error: e.message };
        }
    }
    t.ok(ev.type === 'event', 'and arrives as an event', short(ev));
    const d = await dbConnections(mia, POOL + 1, 10000);
    t.ok(d.ok, `db_connections is back to ${POOL + 1}`, short(d));
}, 60000);

scenario('grace after expiry', 3, async (t) => {
    const g = S.grace;
    if (!g || !g.client)
        throw new Error(`the grace socket did not start: ${g && g.error}`);
    let exp;
    try {
        exp = await g.expired;
    } catch (e) {
        exp = { error: e.message };
    }
    t.ok(g.auth && g.auth.type === 'authenticated' && exp.type === 'expired',
        'a socket whose 3 s token expires gets "expired"', `${short(g.auth)}\n${short(exp)}`);
    let cl;
    try {
        cl = await g.client.waitClose(Math.max(1000, (g.expiredAt || Date.now()) + 50000 - Date.now()));
    } catch (e) {
        cl = { error: e.message };
    }
    const after = cl.at && g.expiredAt ? (cl.at - g.expiredAt) / 1000 : null;
    t.ok(cl.code === 4001 && after >= 25 && after <= 45,
        'not authenticated again, it is closed with 4001 after the grace of 30 s', `close: ${short(cl)} ${after} s after "expired"`);
    const evs = g.client.frames.filter((f) => f.type === 'event' && f._at >= (g.expiredAt || 0));
    t.ok(evs.length === 0, 'and got no event while expired', short(evs));
}, 60000);

scenario('limits of a profile and of a client', 5, async (t) => {
    /* the limits gateway: --max-per-profile 2 --client-in-flight 3 --recheck 2 */
    const a = await authed('leo-1', LIMITS, TOKEN.leo, { rate: false });
    const b = await authed('leo-2', LIMITS, TOKEN.leo, { rate: false });
    const c = await connect('leo-3', LIMITS, { rate: false });
    const third = await c.auth(TOKEN.leo);
    let cl;
    try {
        cl = await c.waitClose(5000);
    } catch (e) {
        cl = { error: e.message };
    }
    t.ok(isErr(third, '53300') && cl.code === 4004,
        'a third socket of one profile (--max-per-profile 2) gets 53300 and is closed with 4004', `${short(third)}\n${short(cl)}`);
    /* four database requests at once: the gateway reads them all before any answer */
    const from = a.frames.length;
    for (let i = 1; i <= 4; i++)
        a.send(json({ type: 'history', id: `flight-${i}`, chat_id: CHAT_ML, max_rows: 1 }));
    try {
        await a.waitFor(() => a.frames.slice(from).filter((x) => x.type === 'result' || x.type === 'error').length >= 4, 5000, from, '4 answers');
    } catch (e) { /* counted below */ }
    const got = a.frames.slice(from);
    const refused = got.filter((x) => isErr(x, '53300'));
    const answered = got.filter((x) => x.type === 'result');
    t.ok(answered.length === 3 && refused.length === 1 && refused[0].id === 'flight-4',
        'of four requests at once (within the burst), the one beyond --client-in-flight 3 gets 53300 with its id',
        short(got, 800));
    a.close();
    b.close();
    /* a socket that only listens hears of its token's revocation within --recheck */
    const o = await authed('ola', LIMITS, TOKEN.ola, { rate: false });
    const before = o.frames.length;
    await psql(`SELECT chat.revoke_tokens('${ID.ola}');`);
    let exp;
    try {
        exp = await o.waitFor((f) => f.type === 'expired', 8000, before, 'an expired frame');
    } catch (e) {
        exp = { error: e.message };
    }
    t.ok(exp.type === 'expired', 'a socket that sends nothing is told "expired" within --recheck of a revocation', short(exp));
    const after = await o.req({ type: 'inbox' });
    t.err(after, '28000', 'and its requests get 28000 from then on');
    o.close();
    /* what a client writes cannot forge a line of the log */
    const m = await authed('log', MAIN, TOKEN.sam);
    await m.req({ type: 'forged\n2026-01-01 00:00:00.000 UTC gateway: client 1: closed' });
    await sleep(200);
    const log = fs.readFileSync(E.GATEWAY_LOG, 'utf8');
    t.ok(log.includes('forged?2026-01-01') && !/^2026-01-01 00:00:00\.000 UTC gateway/m.test(log),
        'a newline a client sends is written to the log as "?", never as a line of its own');
    m.close();
});

scenario('isolation', 2, async (t) => {
    const { eve } = S;
    const about = eve.frames.filter((f) => f.type !== 'error' && json(f).includes(CHAT_ML) || /tangerine|realtime hello|while you were away|live \d/.test(json(f)));
    t.ok(about.length === 0, 'Eve, on the same gateway all along, never got an event or a message of the Mia-Leo chat',
        short(about, 1000));
    t.ok(eve.isOpen && eve.frames.length > 0, 'and her socket is open', `frames: ${eve.frames.length}`);
});

scenario('SIGTERM after a refused handshake', 1, async (t) => {
    /* on the limits gateway, which no later scenario uses */
    const pid = parseInt(E.GATEWAY_LIMITS_PID, 10);
    const before = await authed('limits-before', LIMITS, TOKEN.leo, { rate: 1, burst: 1 });
    const r = await tryHandshake(LIMITS, { origin: 'http://evil.example' });
    const after = await authed('limits-after', LIMITS, TOKEN.eve, { rate: 1, burst: 1 });
    if (r.opened)
        throw new Error('the handshake from another origin was not refused');
    process.kill(pid, 'SIGTERM');
    const codes = await Promise.all([before, after].map((c) => c.waitClose(5000).then((x) => x.code, () => 'open')));
    t.ok(codes[0] === 1001 && codes[1] === 1001,
        'a refused handshake (another Origin) does not keep the clients of that moment from getting 1001 at SIGTERM',
        `close codes: connected before the refused handshake ${codes[0]}, after it ${codes[1]}`);
});

scenario('SIGTERM', 4, async (t) => {
    const pid = parseInt(E.GATEWAY_PID, 10);
    const extra = await authed('late', MAIN, TOKEN.leo);
    const unauth = await connect('unauthenticated', MAIN);
    const st = await extra.data({ type: 'status' });
    const clients = allClients.filter((c) => c.url.startsWith(MAIN.replace(/\/ws$/, '')) && c.isOpen);
    process.kill(pid, 'SIGTERM');
    const codes = await Promise.all(clients.map((c) => c.waitClose(5000).then((x) => x.code, () => 'open')));
    const wrong = clients.map((c, i) => `${c.label}: ${codes[i]}`).filter((x, i) => codes[i] !== 1001);
    t.ok(wrong.length === 0 && clients.includes(unauth), `its ${clients.length} clients get close code 1001`, wrong.join('\n'));
    const started = Date.now();
    while (alive(pid) && Date.now() - started < 5000)
        await sleep(100);
    t.ok(!alive(pid), 'the process exits within a few seconds', `still running after ${(Date.now() - started) / 1000} s`);
    let rc = null;
    for (let i = 0; i < 30 && rc === null; i++) {
        try {
            rc = fs.readFileSync(E.GATEWAY_RC_FILE, 'utf8').trim();
        } catch (e) {
            await sleep(100);
        }
    }
    t.is(rc, '0', 'with exit status 0');
    const log = fs.readFileSync(E.GATEWAY_LOG, 'utf8');
    const opens = [...log.matchAll(/^\S+ \S+ UTC gateway: client (\d+): open from/gm)].map((m) => m[1]);
    const closes = [...log.matchAll(/^\S+ \S+ UTC gateway: client (\d+): closed/gm)].map((m) => m[1]);
    const once = (xs) => xs.every((x, i) => xs.indexOf(x) === i);
    const same = json(opens.slice().sort()) === json(closes.slice().sort());
    t.ok(opens.length >= st.connections_total && once(opens) && once(closes) && same,
        `its log has one line per connection open and one per close (${opens.length} connections)`,
        `opens ${opens.length}, closes ${closes.length}, connections_total ${st.connections_total}; ` +
        `unclosed: ${opens.filter((x) => !closes.includes(x))}; closed twice: ${closes.filter((x, i) => closes.indexOf(x) !== i)}; ` +
        `closed, never opened: ${closes.filter((x) => !opens.includes(x)).map((x) => `client ${x}`)}`);
});

/* ================================================================ run */

(async () => {
    console.log(`1..${totalPlan}`);
    const watchdog = setTimeout(() => {
        note('the whole run took too long: stopping');
        while (testNo < totalPlan)
            emit(false, 'not reached: the run timed out');
        process.exit(1);
    }, 170000);
    for (const s of scenarios) {
        const t = new T(s);
        let err = null;
        let timer;
        try {
            await Promise.race([s.fn(t), new Promise((_, rej) => {
                timer = setTimeout(() => rej(new Error(`the scenario timed out after ${s.timeoutMs / 1000} s`)), s.timeoutMs);
            })]);
        } catch (e) {
            err = e;
        }
        clearTimeout(timer);
        t.dead = true;
        let first = true;
        while (t.n < s.plan) {
            t.n++;
            emit(false, `${s.name}: not reached`, first ? (err ? (err.stack || String(err)) : 'the scenario ended early') : undefined);
            first = false;
        }
        if (err && first) {
            failures++;
            note(`${s.name}: failed after its tests: ${err.stack || err}`);
        }
    }
    clearTimeout(watchdog);
    for (const c of allClients)
        c.terminate();
    process.exit(failures > 0 ? 1 : 0);
})();
