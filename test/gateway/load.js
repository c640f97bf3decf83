// test/gateway/load.js: the gateway's benchmark load (make bench, part 10).
//
// Opens one WebSocket a profile of PROFILES (a file of "profile_id token"
// lines) to GATEWAY_URL and authenticates each; measures the gateway's
// resident memory (/proc/GATEWAY_PID/status) before the first and after
// the last, idle; then, for SECS seconds, sends RATE messages a second
// through the gateway, spread evenly over the chats of CHATS (a file of
// "chat_id customer_id stylist_id" lines), each by one of the chat's two
// participants in turn, and records for each message:
//   - when its send request left, and when its answer (the seq) came back;
//   - when the other participant's socket got its event.
// The latency printed is from the send request to the other participant's
// event: it includes the sender's own transaction, so it is an upper bound
// of commit-to-frame.  Each message must reach the other participant
// exactly once: missing and doubled are counted.  Also the gateway's CPU
// time during the load (utime + stime of /proc/GATEWAY_PID/stat) and the
// database connections it reports (status request).
//
// Output: "name value" lines for test/bench/run.sh.
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const WebSocket = require('ws');

const URL = process.env.GATEWAY_URL;
const ORIGIN = process.env.GATEWAY_ORIGIN;
const PID = process.env.GATEWAY_PID;
const RATE = Number(process.env.RATE || 1000);
const SECS = Number(process.env.SECS || 30);
const profiles = fs.readFileSync(process.env.PROFILES, 'utf8').trim().split('\n').map((l) => l.split(' '));
const chats = fs.readFileSync(process.env.CHATS, 'utf8').trim().split('\n').map((l) => l.split(' '));
const HZ = 100;

const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${PID}/status`, 'utf8'))[1]);
const cpuTicks = () => {
  const f = fs.readFileSync(`/proc/${PID}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};
const now = () => Number(process.hrtime.bigint()) / 1e6;  // ms
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const sockets = new Map();   // profile id -> {ws, pending: Map(id -> resolve)}
const sentAt = new Map();    // chat:seq -> ms the request left
const eventAt = new Map();   // chat:seq -> ms the other's event came
const seen = new Map();      // chat:seq -> events at the other participant
const latencies = [];
let nextId = 1;
let errors = 0;
let firstError = '';

function settle(key) {
  if (sentAt.has(key) && eventAt.has(key)) {
    latencies.push(eventAt.get(key) - sentAt.get(key));
  }
}

function connect(profile, token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(URL, 'stylist-chat', {headers: {Origin: ORIGIN}, perMessageDeflate: false});
    const s = {ws, pending: new Map(), profile};
    ws.on('open', () => ws.send(JSON.stringify({type: 'authenticate', id: 0, token})));
    ws.on('error', reject);
    ws.on('close', (code) => { if (!stopping) { errors++; firstError = firstError || `closed ${code}`; } });
    ws.on('message', (data) => {
      const t = now();
      const f = JSON.parse(data);
      if (f.type === 'authenticated') {
        sockets.set(profile, s);
        resolve(s);
      } else if (f.type === 'event') {
        const e = f.event;
        if (e.type === 'message' && e.sender_id !== profile) {
          const key = `${e.chat_id}:${e.seq}`;
          seen.set(key, (seen.get(key) || 0) + 1);
          if (!eventAt.has(key)) { eventAt.set(key, t); settle(key); }
        }
      } else if (f.type === 'result' || f.type === 'error') {
        const cb = s.pending.get(f.id);
        if (cb) { s.pending.delete(f.id); cb(f); }
        if (f.type === 'error') {
          errors++;
          firstError = firstError || `${f.sqlstate} ${f.message}`;
          if (f.id === 0) reject(new Error(f.message));
        }
      }
    });
  });
}

function request(s, frame) {
  const id = nextId++;
  return new Promise((resolve) => {
    s.pending.set(id, resolve);
    s.ws.send(JSON.stringify(Object.assign({id}, frame)));
  });
}

let stopping = false;

async function main() {
  const rssBefore = rssKb();
  // connect in waves of 100
  for (let i = 0; i < profiles.length; i += 100) {
    await Promise.all(profiles.slice(i, i + 100).map(([p, t]) => connect(p, t)));
  }
  await sleep(2000);
  const rssIdle = rssKb();
  console.log(`connections ${sockets.size}`);
  console.log(`rss_before_kb ${rssBefore}`);
  console.log(`rss_idle_kb ${rssIdle}`);
  console.log(`rss_per_connection_kb ${((rssIdle - rssBefore) / sockets.size).toFixed(1)}`);

  const total = RATE * SECS;
  const ticks0 = cpuTicks();
  const t0 = now();
  let sent = 0;
  let turn = 0;
  const inflight = [];
  while (sent < total) {
    // the messages due by now, spread over the chats
    const due = Math.min(total, Math.floor((now() - t0) * RATE / 1000) + 1);
    for (; sent < due; sent++) {
      const [chat, customer, stylist] = chats[sent % chats.length];
      const from = (Math.floor(sent / chats.length) + turn) % 2 === 0 ? customer : stylist;
      const s = sockets.get(from);
      const t = now();
      inflight.push(request(s, {type: 'send', chat_id: chat, body: `load ${sent}`,
                                client_msg_id: crypto.randomUUID()}).then((f) => {
        if (f.type === 'result') {
          const key = `${chat}:${f.data}`;
          sentAt.set(key, t);
          settle(key);
        }
      }));
    }
    await sleep(2);
  }
  const elapsed = (now() - t0) / 1000;
  await Promise.all(inflight);
  const ticks1 = cpuTicks();
  // let the last events arrive
  for (let i = 0; i < 50 && eventAt.size < sentAt.size; i++) await sleep(100);
  const status = await request(sockets.values().next().value, {type: 'status'});
  stopping = true;

  let missing = 0;
  let doubled = 0;
  for (const key of sentAt.keys()) {
    const n = seen.get(key) || 0;
    if (n === 0) missing++;
    if (n > 1) doubled++;
  }
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : NaN;
  console.log(`messages ${sentAt.size}`);
  console.log(`offered_rate ${(total / elapsed).toFixed(0)}`);
  console.log(`latency_p50_ms ${pct(0.5).toFixed(2)}`);
  console.log(`latency_p99_ms ${pct(0.99).toFixed(2)}`);
  console.log(`latency_max_ms ${latencies.length ? latencies[latencies.length - 1].toFixed(2) : NaN}`);
  console.log(`missing ${missing}`);
  console.log(`doubled ${doubled}`);
  console.log(`errors ${errors}`);
  if (firstError) console.log(`first_error ${firstError.replace(/\s+/g, '_')}`);
  console.log(`gateway_cpu_us_per_message ${((ticks1 - ticks0) * 1e6 / HZ / Math.max(1, sentAt.size)).toFixed(0)}`);
  console.log(`gateway_db_connections ${status.data ? status.data.db_connections : 'n/a'}`);
  console.log(`rss_loaded_kb ${rssKb()}`);
  for (const s of sockets.values()) s.ws.terminate();
  process.exit(0);
}

main().catch((e) => { console.log(`failed ${e.message}`); process.exit(1); });
