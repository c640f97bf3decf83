/*
 * stylist_chat: the reference web page of the WebSocket gateway.
 *
 * Plain JavaScript, no build step, no dependency.  Everything that comes
 * from the server (names, bodies, previews, snippets, card fields) is put
 * into the page as text nodes: never innerHTML.
 *
 * The client protocol (gateway/README, "Nothing missed, nothing doubled"):
 *   after every `authenticated`: catch_up until it returns no row, merging
 *   rows into a per-chat store keyed by seq; refresh the inbox; for the
 *   open chat, `since` from the highest seq held in one piece; then apply
 *   events, fetching what they name and ignoring seqs already held.
 */
(function () {
  'use strict';

  var TOKEN_KEY = 'stylist_chat_token';
  var OUTBOX_KEY = 'stylist_chat_outbox';
  var PALETTE = ['👍', '❤️', '😂', '😮', '🙏'];
  var PAGE = 30;                 // history page while scrolling up
  var SINCE_PAGE = 200;          // since page (loop while full)
  var CATCHUP_PAGE = 200;        // catch_up page
  var INBOX_PAGE = 100;
  var MAX_PAGE = 200;            // the gateway's limit on max_rows
  var MAX_BODY = 4000;
  var TYPING_SEND_EVERY = 2000;
  var TYPING_SHOW_FOR = 3000;
  var GROUP_GAP_MS = 5 * 60 * 1000;
  // refusals that are worth trying again as they are
  var TRANSIENT = { '53300': 1, '53400': 1, '55P03': 1, '40001': 1, '40P01': 1, '57014': 1 };

  /* ------------------------------------------------------------------ *
   * Small helpers
   * ------------------------------------------------------------------ */

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  var SVGNS = 'http://www.w3.org/2000/svg';
  var ICONS = {
    check: [['path', { d: 'M5 12.5l4.5 4.5L19 7.5' }]],
    check2: [['path', { d: 'M1.8 12.8l4.4 4.4L15.8 7.6' }], ['path', { d: 'M11.4 16.2l1 1L22 7.6' }]],
    clock: [['circle', { cx: 12, cy: 12, r: 8.5 }], ['path', { d: 'M12 7.5V12l3 2' }]],
    reply: [['path', { d: 'M9.5 14.5L4.5 9.5l5-5' }], ['path', { d: 'M4.5 9.5h10a5.5 5.5 0 0 1 0 11H12' }]],
    smile: [['circle', { cx: 12, cy: 12, r: 9 }], ['path', { d: 'M8.5 14.2a4.6 4.6 0 0 0 7 0' }], ['path', { d: 'M9 9.6h.01M15 9.6h.01' }]],
    pin: [['path', { d: 'M12 16.5V22' }], ['path', { d: 'M8.5 3h7l-1.2 6.2 3.2 3.3v2H6.5v-2l3.2-3.3z' }]],
    search: [['circle', { cx: 11, cy: 11, r: 6.5 }], ['path', { d: 'M20 20l-4.2-4.2' }]],
    back: [['path', { d: 'M15 18.5L8.5 12 15 5.5' }]],
    send: [['path', { d: 'M21 3L10.2 13.8' }], ['path', { d: 'M21 3l-6.6 18-4.2-7.2L3 9.6z' }]],
    x: [['path', { d: 'M6.5 6.5l11 11M17.5 6.5l-11 11' }]],
    calendar: [['rect', { x: 3.5, y: 5, width: 17, height: 15.5, rx: 2.5 }], ['path', { d: 'M16 3v4M8 3v4M3.5 10h17' }]],
    image: [['rect', { x: 3.5, y: 3.5, width: 17, height: 17, rx: 2.5 }], ['circle', { cx: 9, cy: 9, r: 1.6 }], ['path', { d: 'M20.5 15l-5-5-9.5 10.5' }]],
    bellOff: [['path', { d: 'M13.7 20.5a2 2 0 0 1-3.4 0' }], ['path', { d: 'M18.5 13.5A16 16 0 0 1 18 8.5' }], ['path', { d: 'M6.3 6.6A6 6 0 0 0 6 8.5c0 6.5-2.5 8.5-2.5 8.5h13.5' }], ['path', { d: 'M18 8.5a6 6 0 0 0-9.2-5' }], ['path', { d: 'M2.5 2.5l19 19' }]],
    alert: [['circle', { cx: 12, cy: 12, r: 9 }], ['path', { d: 'M12 7.8v4.7M12 16.2h.01' }]],
    down: [['path', { d: 'M6 9.5l6 6 6-6' }]]
  };

  function icon(name, cls) {
    var svg = document.createElementNS(SVGNS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    svg.setAttribute('class', 'icon' + (cls ? ' ' + cls : ''));
    (ICONS[name] || []).forEach(function (part) {
      var p = document.createElementNS(SVGNS, part[0]);
      Object.keys(part[1]).forEach(function (k) { p.setAttribute(k, String(part[1][k])); });
      svg.appendChild(p);
    });
    return svg;
  }

  function toNum(v) {
    if (v === null || v === undefined || v === '') return null;
    var n = typeof v === 'number' ? v : Number(v);
    return isFinite(n) ? n : null;
  }

  // JSON columns may reach us as JSON, or (from a gateway that passes text
  // through) as a string holding JSON: accept both.
  function asJson(v) {
    if (typeof v === 'string') {
      var s = v.trim();
      if (s.charAt(0) === '{' || s.charAt(0) === '[') {
        try { return JSON.parse(s); } catch (e) { return null; }
      }
      if (s === 'null' || s === '') return null;
    }
    return v === undefined ? null : v;
  }

  // text[] columns: a JSON array, or a PostgreSQL array literal
  function asTextArray(v) {
    v = asJson(v);
    if (Array.isArray(v)) return v.map(String);
    if (typeof v === 'string' && /^\{.*\}$/.test(v)) {
      var inner = v.slice(1, -1);
      if (!inner) return [];
      return inner.split(',').map(function (x) { return x.replace(/^"(.*)"$/, '$1'); });
    }
    return [];
  }

  function firstRow(v) {
    v = asJson(v);
    if (Array.isArray(v)) return v[0] || null;
    return v || null;
  }

  function rowsOf(v) {
    v = asJson(v);
    return Array.isArray(v) ? v : [];
  }

  function sameId(a, b) {
    return a !== null && a !== undefined && b !== null && b !== undefined &&
      String(a).toLowerCase() === String(b).toLowerCase();
  }

  // PostgreSQL writes "2026-12-06 09:01:02.5+00"; to_json writes ISO 8601.
  function parseTs(v) {
    if (!v) return null;
    if (v instanceof Date) return v;
    var s = String(v).trim();
    if (/^-?infinity$/i.test(s)) return null;
    var m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(:\d{2})?(\.\d+)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(s);
    if (m) {
      var frac = m[4] ? (m[4] + '000').slice(0, 4) : '';
      var off = m[5] || '';
      if (/^[+-]\d{2}$/.test(off)) off += ':00';
      else if (/^[+-]\d{4}$/.test(off)) off = off.slice(0, 3) + ':' + off.slice(3);
      var d = new Date(m[1] + 'T' + m[2] + (m[3] || ':00') + frac + (off || ''));
      if (!isNaN(d.getTime())) return d;
    }
    var d2 = new Date(s);
    return isNaN(d2.getTime()) ? null : d2;
  }

  function dayKey(d) {
    return d.getFullYear() + '-' + (d.getMonth() + 1) + '-' + d.getDate();
  }

  function startOfDay(d) { return new Date(d.getFullYear(), d.getMonth(), d.getDate()); }

  function fmtClock(d) {
    return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  }

  function fmtDayLabel(d) {
    var today = startOfDay(new Date());
    var diff = Math.round((today - startOfDay(d)) / 86400000);
    if (diff === 0) return 'Today';
    if (diff === 1) return 'Yesterday';
    var opts = { weekday: 'long', day: 'numeric', month: 'long' };
    if (d.getFullYear() !== today.getFullYear()) opts.year = 'numeric';
    return d.toLocaleDateString(undefined, opts);
  }

  function fmtInboxTime(d) {
    if (!d) return '';
    var today = startOfDay(new Date());
    var diff = Math.round((today - startOfDay(d)) / 86400000);
    if (diff === 0) return fmtClock(d);
    if (diff === 1) return 'Yesterday';
    if (diff > 1 && diff < 7) return d.toLocaleDateString(undefined, { weekday: 'short' });
    var opts = { day: 'numeric', month: 'short' };
    if (d.getFullYear() !== today.getFullYear()) opts.year = 'numeric';
    return d.toLocaleDateString(undefined, opts);
  }

  function fmtWhen(v) {
    var d = parseTs(v);
    if (!d) return v ? String(v) : '';
    var opts = { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' };
    if (d.getFullYear() !== new Date().getFullYear()) opts.year = 'numeric';
    return d.toLocaleString(undefined, opts);
  }

  function fmtBytes(n) {
    n = toNum(n);
    if (n === null) return '';
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return Math.max(1, Math.round(n / 1024)) + ' KB';
    var mb = n / (1024 * 1024);
    return (mb < 10 ? mb.toFixed(1) : Math.round(mb)) + ' MB';
  }

  var STATUS_LABEL = {
    pending: 'Pending', confirmed: 'Confirmed', completed: 'Completed',
    cancelled: 'Cancelled', no_show: 'No-show'
  };
  var CARD_EVENT_LABEL = {
    booked: 'New booking', rescheduled: 'Booking rescheduled', pending: 'Booking pending',
    confirmed: 'Booking confirmed', cancelled: 'Booking cancelled',
    completed: 'Booking completed', no_show: 'Marked as no-show'
  };

  function statusLabel(s) {
    if (s === null || s === undefined) return '';
    return STATUS_LABEL[s] || String(s).replace(/_/g, ' ');
  }

  function initials(name) {
    var words = String(name || '').trim().split(/\s+/).filter(Boolean);
    if (!words.length) return '?';
    var a = Array.from(words[0])[0] || '';
    var b = words.length > 1 ? (Array.from(words[words.length - 1])[0] || '') : '';
    return (a + b).toUpperCase();
  }

  function hashIdx(s, n) {
    var h = 0;
    s = String(s || '');
    for (var i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
    return h % n;
  }

  function avatar(node, id, name) {
    node.textContent = initials(name);
    node.className = node.className.replace(/\bav-\d+\b/g, '').trim();
    node.classList.add('avatar', 'av-' + hashIdx(id || name, 8));
    return node;
  }

  function normEmoji(e) { return String(e).replace(/\uFE0F/g, ''); }

  function uuid4() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') {
      try { return window.crypto.randomUUID(); } catch (e) { /* not a secure context */ }
    }
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = [];
    for (var i = 0; i < 16; i++) h.push((b[i] + 0x100).toString(16).slice(1));
    return h.slice(0, 4).join('') + '-' + h.slice(4, 6).join('') + '-' + h.slice(6, 8).join('') +
      '-' + h.slice(8, 10).join('') + '-' + h.slice(10).join('');
  }

  function storageGet(k) {
    try { return window.sessionStorage.getItem(k); } catch (e) { return null; }
  }
  function storageSet(k, v) {
    try {
      if (v === null) window.sessionStorage.removeItem(k);
      else window.sessionStorage.setItem(k, v);
    } catch (e) { /* storage disabled: memory only */ }
  }

  function noop() {}

  /* ------------------------------------------------------------------ *
   * State
   * ------------------------------------------------------------------ */

  var S = {
    conn: 'connecting',
    sock: null,
    epoch: 0,              // moves on every connection and every authentication
    token: null,           // the token last used (or to use)
    expiredToken: null,    // the token the gateway refused or expired
    profileId: null,
    expiresAt: null,
    everOnline: false,
    backoff: 500,
    reconnectTimer: null,
    renewTimer: null,
    reqId: 0,
    pending: new Map(),    // request id -> {resolve, reject, type}
    unacked: new Map(),    // chat_id -> highest seq stored from catch_up, not yet acknowledged
    inbox: [],
    inboxLoaded: false,
    archivedView: false,
    chats: new Map(),      // chat_id -> chat (see chatState)
    openChatId: null,
    wantedChatId: null,    // #chat=... until opened
    autoOpen: true,        // open the first chat of the inbox when none is named
    outbox: [],
    drafts: new Map(),
    replyTo: null,         // {seq, name, preview}
    booking: null,         // booking row linked to the next message
    lastTypingSent: 0,
    typingTimer: null,
    inboxTyping: new Map(),// chat_id -> timer
    search: null,          // {chatId, query, rows, more}
    myName: null
  };

  function chatState(id) {
    var c = S.chats.get(id);
    if (!c) {
      c = {
        id: id,
        msgs: new Map(),   // seq -> normalized row
        sigs: new Map(),   // seq -> signature (to tell changed from unchanged)
        header: null,
        lo: null,          // lowest seq of the window held in one piece
        hi: null,          // highest seq of that window
        loaded: false,
        exhausted: false,
        loadingOlder: false,
        fetching: null,
        fetchAgain: false,
        acked: -Infinity,
        pins: [],
        bookings: [],
        error: null
      };
      S.chats.set(id, c);
    }
    return c;
  }

  function normRow(r) {
    var o = {};
    Object.keys(r).forEach(function (k) { o[k] = r[k]; });
    o.seq = toNum(r.seq);
    o.attachments = asJson(r.attachments);
    if (!Array.isArray(o.attachments)) o.attachments = [];
    o.booking = asJson(r.booking);
    o.card = asJson(r.card);
    o.reply_to = asJson(r.reply_to);
    o.reactions = asJson(r.reactions);
    if (!o.reactions || typeof o.reactions !== 'object' || Array.isArray(o.reactions)) o.reactions = {};
    o.my_reactions = asTextArray(r.my_reactions);
    if (o.reply_to && typeof o.reply_to === 'object') o.reply_to.seq = toNum(o.reply_to.seq);
    return o;
  }

  function normHeader(h) {
    if (!h) return null;
    var o = {};
    Object.keys(h).forEach(function (k) { o[k] = h[k]; });
    ['last_seq', 'last_read_seq', 'unread_count', 'other_read_seq', 'cleared_seq', 'other_delivered_seq']
      .forEach(function (k) { o[k] = toNum(h[k]); });
    return o;
  }

  // Merge one row into its chat's store; true when it is new or changed.
  function mergeRow(c, raw) {
    var row = normRow(raw);
    if (row.seq === null) return false;
    delete row.chat_id;
    var sig = JSON.stringify(row);
    if (c.sigs.get(row.seq) === sig) return false;
    c.msgs.set(row.seq, row);
    c.sigs.set(row.seq, sig);
    settleOutbox(c.id, row);
    return true;
  }

  function setRow(c, row) {
    var sig = JSON.stringify(row);
    c.msgs.set(row.seq, row);
    c.sigs.set(row.seq, sig);
  }

  // hi moves over seqs held in one piece above it
  function extendHi(c) {
    if (c.hi === null) return;
    while (c.msgs.has(c.hi + 1)) c.hi++;
  }

  function maxHeld(c) {
    var m = null;
    c.msgs.forEach(function (_, s) { if (m === null || s > m) m = s; });
    return m;
  }

  function otherOf(c) {
    var h = c && c.header;
    var row = inboxRow(c && c.id);
    if (h && S.profileId) {
      if (sameId(h.customer_id, S.profileId)) return { id: h.stylist_id, name: h.stylist_name };
      if (sameId(h.stylist_id, S.profileId)) return { id: h.customer_id, name: h.customer_name };
    }
    if (row) return { id: row.other_id, name: row.other_name };
    return { id: null, name: '' };
  }

  function inboxRow(chatId) {
    if (!chatId) return null;
    for (var i = 0; i < S.inbox.length; i++) if (sameId(S.inbox[i].chat_id, chatId)) return S.inbox[i];
    return null;
  }

  function isMine(row) { return row && row.sender_id !== null && row.sender_id !== undefined && sameId(row.sender_id, S.profileId); }

  /* ------------------------------------------------------------------ *
   * Token
   * ------------------------------------------------------------------ */

  function readFragment() {
    var h = location.hash ? location.hash.slice(1) : '';
    if (!h) return;
    var p = new URLSearchParams(h);
    var token = p.get('token');
    var chat = p.get('chat');
    if (token || chat) {
      if (token) { storageSet(TOKEN_KEY, token); S.token = token; }
      if (chat) { S.wantedChatId = chat; S.autoOpen = false; }
      try { history.replaceState(history.state, '', location.pathname + location.search); } catch (e) { location.hash = ''; }
    }
    return { token: token, chat: chat };
  }

  function storedToken() { return storageGet(TOKEN_KEY); }

  /* ------------------------------------------------------------------ *
   * Connection
   * ------------------------------------------------------------------ */

  var CONN_LABEL = { connecting: 'Connecting…', online: 'Online', reconnecting: 'Reconnecting…', expired: 'Session expired' };

  function setConn(state, label) {
    S.conn = state;
    var n = $('conn-state');
    n.setAttribute('data-state', state);
    n.querySelector('.conn-label').textContent = label || CONN_LABEL[state];
    document.body.setAttribute('data-conn', state);
    renderBanner();
    renderThreadHead();
    if (!S.inboxLoaded) renderInbox();
  }

  function wsUrl() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  }

  function connect() {
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = null;
    var token = storedToken() || S.token;
    if (!token || token === S.expiredToken) {
      setConn('expired', token ? CONN_LABEL.expired : 'Signed out');
      watchForToken();
      return;
    }
    if (S.sock) { var old = S.sock; S.sock = null; try { old.close(1000); } catch (e) { /* gone */ } }
    var epoch = ++S.epoch;
    setConn(S.everOnline ? 'reconnecting' : 'connecting');
    var ws;
    try {
      ws = new WebSocket(wsUrl(), 'stylist-chat');
    } catch (e) {
      scheduleReconnect();
      return;
    }
    S.sock = ws;
    var authTimer = setTimeout(function () {
      if (S.sock === ws && S.conn !== 'online' && S.conn !== 'expired') { try { ws.close(4000); } catch (e) { /* */ } }
    }, 12000);
    ws.onopen = function () {
      if (S.sock !== ws) return;
      authenticate(token, epoch).then(function () { clearTimeout(authTimer); }, function () { clearTimeout(authTimer); });
    };
    ws.onmessage = function (ev) {
      if (S.sock !== ws) return;
      onFrame(ev.data);
    };
    ws.onerror = noop;   // a close follows
    ws.onclose = function (ev) {
      clearTimeout(authTimer);
      if (S.sock !== ws) return;
      S.sock = null;
      S.epoch++;
      failPending();
      onClosed(ev.code);
    };
  }

  function onClosed(code) {
    if (code === 4001 || S.conn === 'expired') {
      // token expired and not renewed: wait for a new one
      if (S.conn !== 'expired') { S.expiredToken = S.token; setConn('expired'); }
      watchForToken();
      return;
    }
    S.failures = (S.failures || 0) + 1;
    setConn(S.everOnline ? 'reconnecting' : 'connecting');
    renderAll();
    scheduleReconnect();
  }

  function scheduleReconnect() {
    clearTimeout(S.reconnectTimer);
    var delay = S.backoff;
    S.backoff = Math.min(5000, S.backoff * 2);
    S.reconnectTimer = setTimeout(connect, delay);
  }

  function failPending() {
    var err = { sqlstate: 'disconnected', message: 'connection lost', disconnected: true };
    var p = S.pending;
    S.pending = new Map();
    p.forEach(function (w) { w.reject(err); });
    S.outbox.forEach(function (it) { it.inflight = false; });
  }

  function authenticate(token, epoch) {
    S.token = token;
    return call('authenticate', { token: token }).then(function (frame) {
      if (epoch !== S.epoch && S.conn !== 'expired') return;
      var pid = frame && frame.profile_id;
      if (S.profileId && pid && !sameId(pid, S.profileId)) resetForProfile();
      S.profileId = pid || S.profileId;
      S.expiresAt = frame && frame.expires_at;
      S.expiredToken = null;
      S.backoff = 500;
      S.failures = 0;
      S.everOnline = true;
      stopWatchingToken();
      var myEpoch = ++S.epoch;
      setConn('online');
      renderAll();
      return sync(myEpoch);
    }, function (err) {
      if (err && err.disconnected) return;
      if (err && (err.sqlstate === '28000' || err.sqlstate === '42501')) {
        S.expiredToken = token;
        setConn('expired', S.everOnline ? CONN_LABEL.expired : 'Link expired');
        var ws = S.sock;
        S.sock = null;
        S.epoch++;
        failPending();
        if (ws) { try { ws.close(1000); } catch (e) { /* */ } }
        watchForToken();
      } else if (S.sock) {
        try { S.sock.close(4000); } catch (e) { /* */ }
      }
    });
  }

  function resetForProfile() {
    S.chats = new Map();
    S.inbox = [];
    S.inboxLoaded = false;
    S.outbox = [];
    saveOutbox();
    S.unacked = new Map();
    S.openChatId = null;
    S.autoOpen = !S.wantedChatId;
    S.search = null;
    S.myName = null;
    resetThreadView();
  }

  // While expired, look for a newer token (a new #token=..., or one the
  // host application put into sessionStorage).
  function watchForToken() {
    if (S.renewTimer) return;
    S.renewTimer = setInterval(tryRenew, 1000);
    tryRenew();
  }

  function stopWatchingToken() {
    if (S.renewTimer) { clearInterval(S.renewTimer); S.renewTimer = null; }
  }

  function tryRenew() {
    if (S.conn !== 'expired') { stopWatchingToken(); return; }
    var t = storedToken();
    if (!t || t === S.expiredToken) return;
    stopWatchingToken();
    if (S.sock && S.sock.readyState === 1) {
      authenticate(t, S.epoch);
    } else {
      S.backoff = 500;
      connect();
    }
  }

  function onExpired() {
    S.expiredToken = S.token;
    setConn('expired');
    watchForToken();
  }

  /* ------------------------------------------------------------------ *
   * Requests
   * ------------------------------------------------------------------ */

  function call(type, args) {
    return new Promise(function (resolve, reject) {
      var ws = S.sock;
      if (!ws || ws.readyState !== 1) {
        reject({ sqlstate: 'disconnected', message: 'not connected', disconnected: true });
        return;
      }
      if (S.conn === 'expired' && type !== 'authenticate') {
        reject({ sqlstate: '28000', message: 'session expired', expired: true });
        return;
      }
      var id = ++S.reqId;
      var frame = { type: type, id: id };
      Object.keys(args || {}).forEach(function (k) {
        if (args[k] !== null && args[k] !== undefined) frame[k] = args[k];
      });
      S.pending.set(String(id), { resolve: resolve, reject: reject, type: type });
      try {
        ws.send(JSON.stringify(frame));
      } catch (e) {
        S.pending.delete(String(id));
        reject({ sqlstate: 'disconnected', message: 'send failed', disconnected: true });
      }
    });
  }

  // call, trying again a few times when the gateway or the database says so
  function req(type, args, tries) {
    tries = tries === undefined ? 3 : tries;
    var epoch = S.epoch;
    return call(type, args).catch(function (err) {
      if (tries > 0 && err && TRANSIENT[err.sqlstate] && epoch === S.epoch) {
        return new Promise(function (r) { setTimeout(r, 300 * Math.pow(2, 3 - tries) + Math.random() * 200); })
          .then(function () {
            if (epoch !== S.epoch) throw err;
            return req(type, args, tries - 1);
          });
      }
      throw err;
    });
  }

  function isConnErr(e) { return e && (e.disconnected || e.expired); }

  function reportError(e, what) {
    if (!e || isConnErr(e)) return;
    var msg = (what ? what + ': ' : '') + (e.message || 'something went wrong');
    toast(msg);
    if (window.console) console.warn('stylist_chat', what || '', e);
  }

  function onFrame(data) {
    var f;
    try { f = JSON.parse(data); } catch (e) { return; }
    if (!f || typeof f !== 'object') return;
    switch (f.type) {
      case 'authenticated':
      case 'result':
      case 'error': {
        var key = f.id === undefined || f.id === null ? null : String(f.id);
        var w = key !== null ? S.pending.get(key) : null;
        if (!w) {
          if (f.type === 'error' && f.sqlstate === '28000' && S.conn !== 'expired') onExpired();
          return;
        }
        S.pending.delete(key);
        if (f.type === 'error') {
          w.reject({ sqlstate: f.sqlstate, message: f.message, hint: f.hint, request: f.request });
        } else if (f.type === 'authenticated') {
          w.resolve(f);
        } else {
          w.resolve(f.data === undefined ? null : f.data);
        }
        return;
      }
      case 'event':
        if (f.event && typeof f.event === 'object' && S.conn === 'online') onEvent(f.event);
        return;
      case 'expired':
        onExpired();
        return;
      case 'resync':
        if (S.conn === 'online') sync(S.epoch);
        return;
      default:
        return;
    }
  }

  /* ------------------------------------------------------------------ *
   * Catching up
   * ------------------------------------------------------------------ */

  var syncing = null;

  function sync(epoch) {
    var run = (syncing || Promise.resolve()).then(function () { return syncOnce(epoch); });
    syncing = run.catch(noop);
    return syncing;
  }

  function syncOnce(epoch) {
    if (epoch !== S.epoch || S.conn !== 'online') return Promise.resolve();
    return catchUp().then(function () {
      return refreshInbox();
    }).then(function () {
      if (epoch !== S.epoch) return null;
      if (S.openChatId) return loadChat(S.openChatId, true);
      pickChatToOpen();
      return null;
    }).then(function () {
      flushOutbox();
    }).catch(function (e) {
      if (!isConnErr(e)) reportError(e, 'Sync');
    });
  }

  var catchingUp = null;
  var catchUpAgain = false;

  // catch_up in a loop: first with what is stored and not yet acknowledged
  // (null when nothing), then with the highest seq per chat of the rows the
  // previous call returned, until a call returns no row.
  function catchUp() {
    if (catchingUp) { catchUpAgain = true; return catchingUp; }
    catchingUp = (async function () {
      try {
        do {
          catchUpAgain = false;
          for (var guard = 0; guard < 1000; guard++) {
            var received = null;
            if (S.unacked.size) {
              received = [];
              S.unacked.forEach(function (seq, chatId) { received.push({ chat_id: chatId, seq: seq }); });
            }
            var sent = new Map(S.unacked);
            var rows = rowsOf(await req('catch_up', { received: received, max_rows: CATCHUP_PAGE }));
            // the call returned normally: what it carried is acknowledged
            sent.forEach(function (seq, chatId) {
              if (S.unacked.get(chatId) === seq) S.unacked.delete(chatId);
            });
            if (!rows.length) break;
            var touched = new Set();
            rows.forEach(function (r) {
              if (!r || r.chat_id === undefined) return;
              var c = chatState(String(r.chat_id));
              mergeRow(c, r);
              extendHi(c);
              var s = toNum(r.seq);
              var prev = S.unacked.get(c.id);
              if (s !== null && (prev === undefined || s > prev)) S.unacked.set(c.id, s);
              touched.add(c.id);
            });
            if (S.openChatId && touched.has(S.openChatId)) {
              renderMessages();
              scheduleRead();
            }
          }
        } while (catchUpAgain);
      } finally {
        catchingUp = null;
      }
    })();
    return catchingUp;
  }

  var inboxRefreshing = null;
  var inboxAgain = false;
  var inboxTimer = null;

  function scheduleInboxRefresh(withCatchUp) {
    if (withCatchUp) inboxTimer_catchUp = true;
    clearTimeout(inboxTimer);
    inboxTimer = setTimeout(function () {
      var cu = inboxTimer_catchUp;
      inboxTimer_catchUp = false;
      if (S.conn !== 'online') return;
      (cu ? catchUp().catch(noop) : Promise.resolve()).then(function () { return refreshInbox(); })
        .catch(function (e) { reportError(e, 'Inbox'); });
    }, 150);
  }
  var inboxTimer_catchUp = false;

  function refreshInbox() {
    if (inboxRefreshing) { inboxAgain = true; return inboxRefreshing; }
    inboxRefreshing = (async function () {
      try {
        do {
          inboxAgain = false;
          // pages of at most 200 rows (the gateway's limit), as many as
          // were shown before (a first page at least)
          var want = Math.max(INBOX_PAGE, S.inbox.length);
          var rows = [];
          var before = null;
          for (var page = 0; page < 10; page++) {
            var args = { max_rows: MAX_PAGE, archived: S.archivedView };
            if (before) { args.before_activity = before.activity_at; args.before_chat_id = before.chat_id; }
            var got = rowsOf(await req('inbox', args));
            rows = rows.concat(got);
            if (got.length < MAX_PAGE || rows.length >= want || !got[got.length - 1].activity_at) break;
            before = got[got.length - 1];
          }
          S.inbox = rows.map(function (r) {
            var o = {};
            Object.keys(r).forEach(function (k) { o[k] = r[k]; });
            o.chat_id = String(r.chat_id);
            o.unread_count = toNum(r.unread_count) || 0;
            o.bookings_count = toNum(r.bookings_count) || 0;
            return o;
          });
          sortInbox();
          S.inboxLoaded = true;
          renderInbox();
          renderThreadHead();
        } while (inboxAgain);
      } finally {
        inboxRefreshing = null;
      }
    })();
    return inboxRefreshing;
  }

  function sortInbox() {
    S.inbox.sort(function (a, b) {
      var ta = parseTs(a.activity_at || a.last_message_at), tb = parseTs(b.activity_at || b.last_message_at);
      var x = ta ? ta.getTime() : 0, y = tb ? tb.getTime() : 0;
      if (x !== y) return y - x;
      return String(b.chat_id) < String(a.chat_id) ? -1 : 1;
    });
  }

  function pickChatToOpen() {
    if (S.openChatId) return;
    if (S.wantedChatId) {
      var w = S.wantedChatId;
      S.wantedChatId = null;
      openChat(w);
      return;
    }
    if (S.autoOpen && S.inbox.length) {
      S.autoOpen = false;
      openChat(S.inbox[0].chat_id);
    }
  }

  /* ------------------------------------------------------------------ *
   * The open chat
   * ------------------------------------------------------------------ */

  function openChat(chatId) {
    chatId = String(chatId);
    var changed = S.openChatId !== chatId;
    if (changed && S.openChatId) S.drafts.set(S.openChatId, $('body').value);
    S.openChatId = chatId;
    S.autoOpen = false;
    var c = chatState(chatId);
    if (changed) {
      nodeCache = new Map();
      $('messages').replaceChildren();
      S.replyTo = null;
      S.booking = null;
      S.search = null;
      hideTyping();
      closePopover();
      $('search-input').value = '';
      $('body').value = S.drafts.get(chatId) || '';
      autoGrow();
    }
    $('thread').setAttribute('data-chat-id', chatId);
    $('app').classList.add('thread-open');
    renderAll({ toBottom: changed });
    if (changed && window.matchMedia && window.matchMedia('(min-width: 721px)').matches) {
      setTimeout(function () { if (S.openChatId === chatId) $('body').focus({ preventScroll: true }); }, 0);
    }
    if (S.conn === 'online') {
      loadChat(chatId).catch(function (e) { reportError(e, 'Opening the chat'); });
    }
    return c;
  }

  function closeChat() {
    if (S.openChatId) S.drafts.set(S.openChatId, $('body').value);
    S.openChatId = null;
    S.autoOpen = false;
    resetThreadView();
    renderAll();
  }

  function resetThreadView() {
    $('thread').removeAttribute('data-chat-id');
    $('app').classList.remove('thread-open');
    nodeCache = new Map();
    $('messages').replaceChildren();
    hideTyping();
    closePopover();
  }

  // Header, the newest page when the chat was never loaded, then `since`
  // from the highest seq held in one piece; pins and bookings alongside.
  async function loadChat(chatId, refresh) {
    var c = chatState(chatId);
    var epoch = S.epoch;
    try {
      c.header = normHeader(firstRow(await req('get_chat', { chat_id: chatId })));
      c.error = null;
    } catch (e) {
      if (isConnErr(e)) throw e;
      c.error = e;
      if (S.openChatId === chatId) renderAll();
      return;
    }
    if (epoch !== S.epoch) return;
    learnMyName(c);
    if (S.openChatId === chatId) renderThreadHead();
    if (!c.loaded) {
      var rows = rowsOf(await req('history', { chat_id: chatId, max_rows: PAGE }));
      var lo = null, hi = null;
      rows.forEach(function (r) {
        mergeRow(c, r);
        var s = toNum(r.seq);
        if (s === null) return;
        if (lo === null || s < lo) lo = s;
        if (hi === null || s > hi) hi = s;
      });
      if (hi === null) {
        var cleared = c.header ? c.header.cleared_seq : null;
        hi = Math.max(0, cleared || 0);
        lo = hi + 1;
      }
      c.lo = lo;
      c.hi = hi;
      c.exhausted = rows.length < PAGE;
      c.loaded = true;
      extendHi(c);
      if (S.openChatId === chatId) renderMessages({ toBottom: true });
    }
    loadPins(c);
    loadBookings(c);
    await fetchNew(c);
    if (refresh) {
      // edits, deletes and reactions missed while away, in the newest part
      var held = 0;
      c.msgs.forEach(function (_, s) { if (c.lo !== null && s >= c.lo) held++; });
      if (held > 0) {
        var fresh = rowsOf(await req('history', { chat_id: chatId, max_rows: Math.min(MAX_PAGE, held, 100) }));
        fresh.forEach(function (r) {
          var s = toNum(r.seq);
          if (s !== null && c.lo !== null && s >= c.lo && s <= c.hi) mergeRow(c, r);
        });
      }
    }
    if (S.openChatId === chatId) {
      renderMessages();
      scheduleRead();
      fillViewport();
    }
  }

  function learnMyName(c) {
    var h = c.header;
    if (!h || S.myName) return;
    if (sameId(h.customer_id, S.profileId)) S.myName = h.customer_name;
    else if (sameId(h.stylist_id, S.profileId)) S.myName = h.stylist_name;
    if (S.myName) $('me').textContent = S.myName;
  }

  // since from the top of the window held in one piece, while full pages come back
  function fetchNew(c) {
    if (!c.loaded) return Promise.resolve();
    if (c.fetching) { c.fetchAgain = true; return c.fetching; }
    c.fetching = (async function () {
      var changed = false;
      try {
        do {
          c.fetchAgain = false;
          for (var guard = 0; guard < 500; guard++) {
            var after = Math.max(0, c.hi === null ? 0 : c.hi);
            var rows = rowsOf(await req('since', { chat_id: c.id, after_seq: after, max_rows: SINCE_PAGE }));
            rows.forEach(function (r) {
              if (mergeRow(c, r)) changed = true;
              var s = toNum(r.seq);
              if (s !== null && (c.hi === null || s > c.hi)) c.hi = s;
            });
            extendHi(c);
            if (rows.length < SINCE_PAGE) break;
          }
        } while (c.fetchAgain);
      } finally {
        c.fetching = null;
      }
      if (changed && S.openChatId === c.id) {
        renderMessages();
        scheduleRead();
      }
    })();
    return c.fetching;
  }

  // one message again (an edit, a delete, a reaction, a moderator's hide)
  async function refetchOne(c, seq) {
    var rows = rowsOf(await req('history', { chat_id: c.id, before_seq: seq + 1, max_rows: 1 }));
    var changed = false;
    rows.forEach(function (r) {
      if (toNum(r.seq) === seq && mergeRow(c, r)) changed = true;
    });
    if (changed && S.openChatId === c.id) renderMessages();
  }

  async function loadOlder(c, n) {
    if (!c.loaded || c.exhausted || c.loadingOlder || S.conn !== 'online') return;
    n = n || PAGE;
    c.loadingOlder = true;
    if (S.openChatId === c.id) renderMessages();
    try {
      var rows = rowsOf(await req('history', { chat_id: c.id, before_seq: c.lo, max_rows: n }));
      var lo = c.lo;
      rows.forEach(function (r) {
        mergeRow(c, r);
        var s = toNum(r.seq);
        if (s !== null && s < lo) lo = s;
      });
      c.lo = lo;
      if (rows.length < n) c.exhausted = true;
    } finally {
      c.loadingOlder = false;
    }
    if (S.openChatId === c.id) renderMessages({ keepFromBottom: true });
  }

  // a first page shorter than the thread: load more until it scrolls
  function fillViewport() {
    var c = S.chats.get(S.openChatId);
    var m = $('messages');
    if (!c || !c.loaded || c.exhausted || c.loadingOlder) return;
    if (m.scrollHeight <= m.clientHeight + 40) {
      loadOlder(c).then(fillViewport).catch(noop);
    }
  }

  function loadPins(c) {
    return req('pinned', { chat_id: c.id }).then(function (rows) {
      c.pins = rowsOf(rows).map(function (p) {
        var o = {};
        Object.keys(p).forEach(function (k) { o[k] = p[k]; });
        o.seq = toNum(p.seq);
        return o;
      });
      if (S.openChatId === c.id) { renderPinned(); renderMessages(); }
    }).catch(function (e) { if (!isConnErr(e)) console.warn('pinned', e); });
  }

  function loadBookings(c) {
    return req('bookings', { chat_id: c.id }).then(function (rows) {
      c.bookings = rowsOf(rows);
      if (S.openChatId === c.id) { renderThreadHead(); renderComposer(); }
    }).catch(function (e) { if (!isConnErr(e)) console.warn('bookings', e); });
  }

  /* ------------------------------------------------------------------ *
   * Events
   * ------------------------------------------------------------------ */

  function onEvent(ev) {
    var type = ev.type;
    var chatId = ev.chat_id === undefined || ev.chat_id === null ? null : String(ev.chat_id);
    var seq = toNum(ev.seq);
    var sender = ev.sender_id === undefined ? null : ev.sender_id;
    var fromOther = !sameId(sender, S.profileId);   // booking cards (null sender) too
    var isOpen = chatId !== null && chatId === S.openChatId;
    var c = chatId !== null ? S.chats.get(chatId) : null;

    if (c && c.header && seq !== null && c.header.cleared_seq !== null &&
        seq <= c.header.cleared_seq && (type === 'message' || type === 'edited' || type === 'deleted' ||
        type === 'hidden' || type === 'reaction')) {
      return;   // cleared by the actor: nothing to fetch
    }

    switch (type) {
      case 'typing':
        if (!fromOther || sender === null) return;
        if (isOpen) showTyping();
        else if (chatId) inboxTypingHint(chatId);
        return;

      case 'read':
        if (c && c.header && seq !== null) {
          if (fromOther) c.header.other_read_seq = Math.max(c.header.other_read_seq || 0, seq);
          else c.header.last_read_seq = Math.max(c.header.last_read_seq || 0, seq);
          if (isOpen) renderMessages();
        }
        if (!fromOther) scheduleInboxRefresh();
        return;

      case 'delivered':
        if (c && c.header && seq !== null && fromOther) {
          c.header.other_delivered_seq = Math.max(c.header.other_delivered_seq || 0, seq);
          if (isOpen) renderMessages();
        }
        return;

      case 'message':
        if (isOpen && c && c.loaded) {
          if (fromOther && sender !== null) hideTyping();
          if (seq !== null && c.msgs.has(seq)) { scheduleInboxRefresh(); return; }
          fetchNew(c).then(function () {
            if (fromOther && seq !== null && c.msgs.has(seq) && seq > c.acked) {
              c.acked = seq;
              req('ack', { chat_id: c.id, seq: seq }).catch(noop);
            }
          }).catch(function (e) { reportError(e, 'Fetching messages'); });
          scheduleInboxRefresh();
        } else {
          if (chatId) clearInboxTyping(chatId);
          // not on screen: catch up (which acknowledges it) and refresh the inbox
          scheduleInboxRefresh(fromOther);
        }
        return;

      case 'edited':
      case 'deleted':
      case 'hidden':
      case 'reaction':
        if (isOpen && c && c.loaded && seq !== null &&
            (c.msgs.has(seq) || (c.lo !== null && seq >= c.lo && seq <= c.hi))) {
          refetchOne(c, seq).catch(function (e) { reportError(e, 'Updating a message'); });
          if ((type === 'deleted' || type === 'hidden') && c.pins.some(function (p) { return p.seq === seq; })) loadPins(c);
        } else if (c && seq !== null && c.msgs.has(seq)) {
          // held but not on screen: fetched again when the chat opens
          c.sigs.delete(seq);
          c.stale = c.stale || new Set();
          c.stale.add(seq);
        }
        if (type !== 'reaction') scheduleInboxRefresh();
        return;

      case 'pinned':
      case 'unpinned':
        if (isOpen && c) loadPins(c);
        return;

      case 'chat_created':
        scheduleInboxRefresh();
        return;

      case 'consent':
        return;

      default:
        if (!isOpen) scheduleInboxRefresh();
    }
  }

  /* ------------------------------------------------------------------ *
   * Reading and typing
   * ------------------------------------------------------------------ */

  var readTimer = null;

  function scheduleRead() {
    clearTimeout(readTimer);
    readTimer = setTimeout(doRead, 300);
  }

  function doRead() {
    var c = S.chats.get(S.openChatId);
    if (!c || !c.loaded || S.conn !== 'online' || document.visibilityState !== 'visible') return;
    if ($('app').classList.contains('thread-open') === false) return;
    var top = maxHeld(c);
    var row = inboxRow(c.id);
    if (top === null) return;
    var lastRead = c.header && c.header.last_read_seq !== null ? c.header.last_read_seq : -Infinity;
    if (top <= lastRead && !(row && row.unread_count > 0)) return;
    if (row && row.unread_count) { row.unread_count = 0; renderInbox(); }
    var chatId = c.id;
    req('read', { chat_id: chatId, up_to_seq: top }).then(function (mark) {
      mark = toNum(mark);
      if (c.header) {
        c.header.last_read_seq = Math.max(lastRead, mark === null ? top : mark);
        c.header.unread_count = 0;
      }
      var r = inboxRow(chatId);
      if (r && r.unread_count) { r.unread_count = 0; renderInbox(); }
    }).catch(function (e) { if (!isConnErr(e)) console.warn('read', e); });
  }

  function showTyping() {
    var c = S.chats.get(S.openChatId);
    var name = otherOf(c).name || 'Someone';
    var t = $('typing');
    t.textContent = name + ' is typing…';
    t.hidden = false;
    clearTimeout(S.typingTimer);
    S.typingTimer = setTimeout(hideTyping, TYPING_SHOW_FOR);
  }

  function hideTyping() {
    clearTimeout(S.typingTimer);
    S.typingTimer = null;
    var t = $('typing');
    t.hidden = true;
    t.textContent = '';
  }

  function inboxTypingHint(chatId) {
    var old = S.inboxTyping.get(chatId);
    if (old) clearTimeout(old);
    S.inboxTyping.set(chatId, setTimeout(function () { clearInboxTyping(chatId); }, TYPING_SHOW_FOR));
    setInboxTypingClass(chatId, true);
  }

  function clearInboxTyping(chatId) {
    var old = S.inboxTyping.get(chatId);
    if (old) clearTimeout(old);
    S.inboxTyping.delete(chatId);
    setInboxTypingClass(chatId, false);
  }

  function setInboxTypingClass(chatId, on) {
    var items = $('inbox').querySelectorAll('.inbox-item');
    for (var i = 0; i < items.length; i++) {
      if (items[i].getAttribute('data-chat-id') === chatId) items[i].classList.toggle('typing-now', on);
    }
  }

  function maybeSendTyping() {
    if (!S.openChatId || S.conn !== 'online') return;
    if (!$('body').value.trim()) return;
    var now = Date.now();
    if (now - S.lastTypingSent < TYPING_SEND_EVERY) return;
    S.lastTypingSent = now;
    call('typing', { chat_id: S.openChatId }).catch(noop);
  }

  /* ------------------------------------------------------------------ *
   * Sending
   * ------------------------------------------------------------------ */

  function loadOutbox() {
    var raw = storageGet(OUTBOX_KEY);
    if (!raw) return;
    try {
      var items = JSON.parse(raw);
      if (Array.isArray(items)) {
        S.outbox = items.filter(function (it) { return it && it.chatId && it.client_msg_id; })
          .map(function (it) { it.inflight = false; return it; });
      }
    } catch (e) { /* ignore */ }
  }

  function saveOutbox() {
    var keep = S.outbox.map(function (it) {
      return {
        localId: it.localId, chatId: it.chatId, body: it.body, client_msg_id: it.client_msg_id,
        booking_id: it.booking_id, booking: it.booking, reply_to_seq: it.reply_to_seq, reply: it.reply,
        createdAt: it.createdAt, seq: it.seq, state: it.state, error: it.error
      };
    });
    storageSet(OUTBOX_KEY, keep.length ? JSON.stringify(keep) : null);
  }

  // a row arrived: the outbox item with its seq or its client_msg_id is done
  function settleOutbox(chatId, row) {
    var before = S.outbox.length;
    S.outbox = S.outbox.filter(function (it) {
      if (it.chatId !== chatId) return true;
      if (it.seq !== null && it.seq === row.seq) return false;
      if (row.client_msg_id && sameId(row.client_msg_id, it.client_msg_id)) return false;
      return true;
    });
    if (S.outbox.length !== before) saveOutbox();
  }

  function sendCurrent() {
    var ta = $('body');
    var text = ta.value.replace(/^\s+|\s+$/g, '');
    if (!text || !S.openChatId) return;
    if (text.length > MAX_BODY) { toast('A message holds at most ' + MAX_BODY + ' characters.'); return; }
    var item = {
      localId: 'l' + Date.now().toString(36) + Math.random().toString(36).slice(2, 7),
      chatId: S.openChatId,
      body: text,
      client_msg_id: uuid4(),
      booking_id: S.booking ? String(S.booking.booking_id) : null,
      booking: S.booking ? { id: S.booking.booking_id, service: S.booking.service, starts_at: S.booking.starts_at, status: S.booking.status } : null,
      reply_to_seq: S.replyTo ? S.replyTo.seq : null,
      reply: S.replyTo ? { seq: S.replyTo.seq, sender_id: S.replyTo.sender_id, preview: S.replyTo.preview } : null,
      createdAt: new Date().toISOString(),
      seq: null,
      state: 'pending',
      error: null,
      inflight: false
    };
    S.outbox.push(item);
    saveOutbox();
    ta.value = '';
    S.drafts.delete(S.openChatId);
    S.replyTo = null;
    S.booking = null;
    S.lastTypingSent = 0;
    autoGrow();
    renderComposer();
    renderMessages({ toBottom: true });
    trySend(item);
    ta.focus({ preventScroll: true });
  }

  // A chat's messages are sent one after another, in the order written: a
  // message waits while an earlier one of its chat is still to be sent (a
  // send the gateway refused for a while, 53400, is sent again before the
  // later ones, which would otherwise overtake it)
  function earlierUnsent(item) {
    for (var i = 0; i < S.outbox.length && S.outbox[i] !== item; i++) {
      var e = S.outbox[i];
      if (e.chatId === item.chatId && e.state === 'pending' && e.seq === null) return true;
    }
    return false;
  }

  function trySend(item) {
    if (item.inflight || item.state !== 'pending' || item.seq !== null) return;
    if (S.conn !== 'online' || !S.sock) return;   // sent again after (re)connection
    if (earlierUnsent(item)) return;              // sent when the earlier one is
    item.inflight = true;
    var epoch = S.epoch;
    req('send', {
      chat_id: item.chatId,
      body: item.body,
      client_msg_id: item.client_msg_id,
      booking_id: item.booking_id,
      reply_to_seq: item.reply_to_seq
    }).then(function (seq) {
      item.inflight = false;
      item.seq = toNum(seq);
      item.state = 'sent';
      var c = S.chats.get(item.chatId);
      if (c && item.seq !== null && c.msgs.has(item.seq)) {
        settleOutbox(item.chatId, c.msgs.get(item.seq));
      } else if (!c || !c.loaded) {
        S.outbox = S.outbox.filter(function (x) { return x !== item; });
      }
      saveOutbox();
      if (c && c.loaded) fetchNew(c).catch(noop);
      if (S.openChatId === item.chatId) renderMessages();
      scheduleInboxRefresh();
      flushOutbox();                              // the next of the chat
    }, function (err) {
      item.inflight = false;
      if (isConnErr(err) || (err && (TRANSIENT[err.sqlstate] || err.sqlstate === '28000'))) {
        // stays pending; sent again with the same client_msg_id
        if (err && TRANSIENT[err.sqlstate] && epoch === S.epoch) {
          setTimeout(function () { trySend(item); }, 1500);
        }
        return;
      }
      item.state = 'failed';
      item.error = (err && err.message) || 'not sent';
      saveOutbox();
      if (S.openChatId === item.chatId) renderMessages();
      flushOutbox();                              // the next of the chat
    });
  }

  function flushOutbox() {
    S.outbox.forEach(function (it) {
      if (it.state === 'pending' && it.seq === null) trySend(it);
    });
  }

  /* ------------------------------------------------------------------ *
   * Reactions, pins, replies
   * ------------------------------------------------------------------ */

  function toggleReaction(seq, emoji) {
    var c = S.chats.get(S.openChatId);
    if (!c) return;
    var row = c.msgs.get(seq);
    if (!row) return;
    var held = null;
    row.my_reactions.forEach(function (e) { if (normEmoji(e) === normEmoji(emoji)) held = e; });
    var verb = held !== null ? 'unreact' : 'react';
    var sendEmoji = held !== null ? held : emoji;
    req(verb, { chat_id: c.id, seq: seq, emoji: sendEmoji }).then(function (counts) {
      var cur = c.msgs.get(seq);
      if (!cur) return;
      var next = {};
      Object.keys(cur).forEach(function (k) { next[k] = cur[k]; });
      var r = asJson(counts);
      next.reactions = r && typeof r === 'object' && !Array.isArray(r) ? r : {};
      next.my_reactions = held !== null
        ? cur.my_reactions.filter(function (e) { return normEmoji(e) !== normEmoji(emoji); })
        : cur.my_reactions.concat([sendEmoji]);
      setRow(c, next);
      if (S.openChatId === c.id) renderMessages();
    }).catch(function (e) { reportError(e, 'Reaction'); });
  }

  function isPinned(c, seq) {
    return c.pins.some(function (p) { return p.seq === seq; });
  }

  function doPin(seq, note) {
    var c = S.chats.get(S.openChatId);
    if (!c) return;
    note = (note || '').replace(/\s+/g, ' ').trim();
    req('pin', { chat_id: c.id, seq: seq, note: note || null }).then(function () {
      return loadPins(c);
    }).catch(function (e) { reportError(e, 'Pin'); });
  }

  function doUnpin(seq) {
    var c = S.chats.get(S.openChatId);
    if (!c) return;
    req('unpin', { chat_id: c.id, seq: seq }).then(function () {
      c.pins = c.pins.filter(function (p) { return p.seq !== seq; });
      renderPinned();
      renderMessages();
      return loadPins(c);
    }).catch(function (e) { reportError(e, 'Unpin'); });
  }

  function previewOf(row) {
    if (!row) return '';
    if (row.deleted_at) return 'This message was deleted';
    if (row.hidden_at) return 'Hidden by a moderator';
    var b = (row.body || '').replace(/\s+/g, ' ').trim();
    if (!b && row.attachments && row.attachments.length) b = row.attachments.length > 1 ? row.attachments.length + ' photos' : 'Photo';
    return b.length > 120 ? b.slice(0, 119) + '…' : b;
  }

  function startReply(seq) {
    var c = S.chats.get(S.openChatId);
    if (!c) return;
    var row = c.msgs.get(seq);
    if (!row) return;
    S.replyTo = {
      seq: seq,
      sender_id: row.sender_id,
      name: nameFor(c, row.sender_id),
      preview: previewOf(row)
    };
    renderComposer();
    $('body').focus();
  }

  function nameFor(c, senderId) {
    if (senderId === null || senderId === undefined) return 'Booking';
    if (sameId(senderId, S.profileId)) return 'You';
    return otherOf(c).name || 'Them';
  }

  async function jumpTo(seq) {
    var c = S.chats.get(S.openChatId);
    if (!c || seq === null) return;
    closeSearchPanel(false);
    for (var guard = 0; guard < 100 && c.loaded && c.lo !== null && seq < c.lo && !c.exhausted; guard++) {
      if (c.loadingOlder) { await new Promise(function (r) { setTimeout(r, 100); }); continue; }
      try { await loadOlder(c, Math.min(MAX_PAGE, c.lo - seq + 10)); } catch (e) { reportError(e, 'History'); return; }
    }
    var cached = nodeCache.get('m:' + seq);
    var node = cached && cached.node;
    if (!node || !node.isConnected) { toast('That message is no longer available.'); return; }
    node.scrollIntoView({ block: 'center', behavior: 'smooth' });
    node.classList.remove('flash');
    void node.offsetWidth;
    node.classList.add('flash');
    setTimeout(function () { node.classList.remove('flash'); }, 1600);
  }

  /* ------------------------------------------------------------------ *
   * Search
   * ------------------------------------------------------------------ */

  function runSearch(query, more) {
    var c = S.chats.get(S.openChatId);
    if (!c) return;
    query = query.trim();
    if (!query) { closeSearchPanel(true); return; }
    var prev = more && S.search && S.search.chatId === c.id && S.search.query === query ? S.search : null;
    var before = null;
    if (prev && prev.rows.length) before = Math.min.apply(null, prev.rows.map(function (r) { return r.seq; }));
    S.search = { chatId: c.id, query: query, rows: prev ? prev.rows : [], more: false, loading: true, error: null };
    renderSearch();
    var state = S.search;
    req('search', { chat_id: c.id, query: query, max_rows: 20, before_seq: before }).then(function (rows) {
      if (S.search !== state) return;
      rows = rowsOf(rows).map(function (r) {
        var o = {};
        Object.keys(r).forEach(function (k) { o[k] = r[k]; });
        o.seq = toNum(r.seq);
        return o;
      });
      state.rows = state.rows.concat(rows);
      state.more = rows.length === 20;
      state.loading = false;
      renderSearch();
    }, function (e) {
      if (S.search !== state) return;
      state.loading = false;
      state.error = e && e.sqlstate === '22023' ? 'Type a word to search for.' :
        e && e.sqlstate === '22001' ? 'That search is too long.' :
        isConnErr(e) ? 'Not connected. Try again in a moment.' : ((e && e.message) || 'Search failed.');
      renderSearch();
    });
  }

  function closeSearchPanel(clearInput) {
    S.search = null;
    if (clearInput) $('search-input').value = '';
    renderSearch();
  }

  // «word» marks a match: build <mark> nodes, never HTML
  function highlighted(snippet) {
    var frag = document.createDocumentFragment();
    var buf = '';
    var inMark = false;
    Array.from(String(snippet || '')).forEach(function (ch) {
      if (ch === '«' && !inMark) {
        if (buf) frag.appendChild(document.createTextNode(buf));
        buf = '';
        inMark = true;
      } else if (ch === '»' && inMark) {
        frag.appendChild(el('mark', null, buf));
        buf = '';
        inMark = false;
      } else {
        buf += ch;
      }
    });
    if (inMark) buf = '«' + buf;
    if (buf) frag.appendChild(document.createTextNode(buf));
    return frag;
  }

  /* ------------------------------------------------------------------ *
   * Rendering
   * ------------------------------------------------------------------ */

  function renderAll(opts) {
    renderInbox();
    renderThreadHead();
    renderPinned();
    renderMessages(opts);
    renderComposer();
    renderSearch();
    renderBanner();
  }

  function renderInbox() {
    var box = $('inbox');
    var frag = document.createDocumentFragment();
    var total = 0;
    if (!S.inboxLoaded && S.conn === 'expired') {
      var gone = el('div', 'inbox-empty');
      gone.appendChild(el('p', 'inbox-empty-title', 'Signed out'));
      gone.appendChild(el('p', null, 'Your conversations show up here once you are signed in.'));
      frag.appendChild(gone);
    } else if (!S.inboxLoaded) {
      for (var i = 0; i < 5; i++) {
        var sk = el('div', 'inbox-skeleton');
        sk.appendChild(el('span', 'sk-avatar'));
        var lines = el('span', 'sk-lines');
        lines.appendChild(el('span', 'sk-line'));
        lines.appendChild(el('span', 'sk-line short'));
        sk.appendChild(lines);
        frag.appendChild(sk);
      }
    } else if (!S.inbox.length) {
      var empty = el('div', 'inbox-empty');
      empty.appendChild(el('p', 'inbox-empty-title', S.archivedView ? 'No archived chats' : 'No conversations yet'));
      empty.appendChild(el('p', null, S.archivedView ? 'Chats you archive show up here.' : 'When you book or message someone, the chat shows up here.'));
      frag.appendChild(empty);
    }
    S.inbox.forEach(function (row) {
      var unread = row.unread_count || 0;
      var muted = row.muted_until !== null && row.muted_until !== undefined && row.muted_until !== '';
      if (!muted) total += unread;
      var item = el('button', 'inbox-item');
      item.type = 'button';
      item.setAttribute('data-chat-id', row.chat_id);
      if (row.chat_id === S.openChatId) { item.classList.add('active'); item.setAttribute('aria-current', 'true'); }
      if (muted) item.classList.add('muted');
      if (unread > 0) item.classList.add('has-unread');
      if (S.inboxTyping.has(row.chat_id)) item.classList.add('typing-now');
      item.appendChild(avatar(el('span'), row.other_id, row.other_name));
      var main = el('span', 'ii-main');
      var top = el('span', 'ii-top');
      top.appendChild(el('span', 'name', row.other_name || 'Unknown'));
      if ((row.bookings_count || 0) >= 2) {
        var reg = el('span', 'regular', 'Regular');
        reg.title = row.bookings_count + ' bookings';
        top.appendChild(reg);
      }
      var when = parseTs(row.last_message_at || row.activity_at);
      var t = el('time', 'time', fmtInboxTime(when));
      if (when) t.dateTime = when.toISOString();
      top.appendChild(t);
      main.appendChild(top);
      var bottom = el('span', 'ii-bottom');
      var hasPreview = row.preview !== null && row.preview !== undefined && row.preview !== '';
      var prev = el('span', 'preview' + (hasPreview ? '' : ' empty'), hasPreview ? row.preview : 'No messages yet');
      bottom.appendChild(prev);
      bottom.appendChild(el('span', 'typing-hint', 'typing…'));
      if (muted) {
        var mi = el('span', 'muted-icon');
        mi.title = 'Muted';
        mi.appendChild(icon('bellOff'));
        bottom.appendChild(mi);
      }
      if (unread > 0) {
        var badge = el('span', 'badge unread', String(unread));
        badge.setAttribute('aria-label', unread + ' unread');
        bottom.appendChild(badge);
      }
      main.appendChild(bottom);
      item.appendChild(main);
      frag.appendChild(item);
    });
    var scroll = box.scrollTop;
    box.replaceChildren(frag);
    box.scrollTop = scroll;
    document.title = (total > 0 ? '(' + total + ') ' : '') + 'Messages';
  }

  function renderThreadHead() {
    var c = S.chats.get(S.openChatId);
    var empty = $('thread-empty');
    var threadEl = $('thread');
    if (!c) {
      empty.hidden = false;
      threadEl.classList.add('no-chat');
      var signedOut = S.conn === 'expired' && !(storedToken() || S.token);
      $('thread-empty-title').textContent = S.conn === 'expired' ? (signedOut ? 'You are not signed in' : 'Your session has expired') : 'Your conversations';
      $('thread-empty-text').textContent = S.conn === 'expired'
        ? (signedOut ? 'Open this page from the link in the app.' : 'Open the chat again from the app to continue.')
        : S.inboxLoaded && !S.inbox.length ? 'No conversations yet.' : 'Pick a conversation on the left to open it.';
      empty.classList.toggle('expired', S.conn === 'expired');
      return;
    }
    empty.hidden = true;
    threadEl.classList.remove('no-chat');
    var other = otherOf(c);
    avatar($('thread-avatar'), other.id, other.name);
    $('thread-name').textContent = other.name || '…';
    var sub = $('thread-sub');
    sub.replaceChildren();
    var row = inboxRow(c.id);
    var count = c.bookings.length || (row ? row.bookings_count : 0) || 0;
    if (count >= 2) sub.appendChild(el('span', 'regular', 'Regular'));
    var next = nextBooking(c.bookings);
    if (next) {
      sub.appendChild(el('span', 'sub-text', 'Next: ' + (next.service || 'Booking') + ' · ' + fmtWhen(next.starts_at)));
    } else if (count) {
      sub.appendChild(el('span', 'sub-text', count === 1 ? '1 booking' : count + ' bookings'));
    } else {
      sub.appendChild(el('span', 'sub-text', c.header && c.header.created_at ? 'Chatting since ' + new Date(parseTs(c.header.created_at) || Date.now()).toLocaleDateString(undefined, { month: 'short', year: 'numeric' }) : ''));
    }
    var muted = (c.header && c.header.muted_until) || (row && row.muted_until);
    if (muted) {
      var m = el('span', 'sub-muted');
      m.appendChild(icon('bellOff'));
      m.appendChild(document.createTextNode('Muted'));
      sub.appendChild(m);
    }
  }

  function nextBooking(bookings) {
    var now = Date.now();
    var best = null, bestT = Infinity;
    (bookings || []).forEach(function (b) {
      var t = parseTs(b.starts_at);
      if (!t || t.getTime() < now) return;
      if (b.status !== 'pending' && b.status !== 'confirmed') return;
      if (t.getTime() < bestT) { best = b; bestT = t.getTime(); }
    });
    return best;
  }

  function renderPinned() {
    var box = $('pinned');
    var c = S.chats.get(S.openChatId);
    if (!c || !c.pins.length) { box.hidden = true; box.replaceChildren(); return; }
    box.hidden = false;
    var frag = document.createDocumentFragment();
    var lead = el('span', 'pinned-lead');
    lead.appendChild(icon('pin'));
    lead.appendChild(el('span', 'pinned-count', String(c.pins.length)));
    lead.title = c.pins.length === 1 ? '1 pinned message' : c.pins.length + ' pinned messages';
    frag.appendChild(lead);
    var list = el('div', 'pin-list');
    c.pins.forEach(function (p) {
      var pin = el('div', 'pin');
      pin.setAttribute('data-seq', String(p.seq));
      pin.setAttribute('data-action', 'jump');
      pin.tabIndex = 0;
      pin.setAttribute('role', 'button');
      var txt = el('span', 'pin-text');
      txt.appendChild(el('span', 'pin-note', p.note || 'Pinned message'));
      txt.appendChild(el('span', 'pin-preview', p.preview || ''));
      pin.appendChild(txt);
      var x = el('button', 'pin-unpin');
      x.type = 'button';
      x.setAttribute('data-action', 'unpin');
      x.setAttribute('aria-label', 'Unpin');
      x.title = 'Unpin';
      x.appendChild(icon('x'));
      pin.appendChild(x);
      list.appendChild(pin);
    });
    frag.appendChild(list);
    box.replaceChildren(frag);
  }

  var nodeCache = new Map();   // key -> {sig, node}

  function isAtBottom(m) {
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function tickOf(c, row) {
    var h = c.header || {};
    if (h.other_read_seq !== null && h.other_read_seq !== undefined && row.seq <= h.other_read_seq) return 'read';
    if (h.other_delivered_seq !== null && h.other_delivered_seq !== undefined && row.seq <= h.other_delivered_seq) return 'delivered';
    return 'sent';
  }

  function renderMessages(opts) {
    opts = opts || {};
    var m = $('messages');
    var c = S.chats.get(S.openChatId);
    if (!c) { m.replaceChildren(); nodeCache = new Map(); updateJump(); return; }
    var atBottom = isAtBottom(m);
    var fromBottom = m.scrollHeight - m.scrollTop;
    var lastBefore = m.lastElementChild;

    // refetch what changed while the chat was not on screen
    if (c.stale && c.stale.size && S.conn === 'online') {
      var st = Array.from(c.stale);
      c.stale.clear();
      st.forEach(function (s) { refetchOne(c, s).catch(noop); });
    }

    var entries = [];
    if (c.loaded) {
      c.msgs.forEach(function (row, seq) {
        if (c.lo !== null && seq < c.lo) return;
        entries.push({ kind: 'row', seq: seq, row: row, at: parseTs(row.created_at) });
      });
    }
    S.outbox.forEach(function (it) {
      if (it.chatId !== c.id) return;
      if (it.seq !== null && c.msgs.has(it.seq)) return;
      entries.push({ kind: 'out', seq: it.seq, item: it, at: parseTs(it.createdAt) || new Date() });
    });
    entries.sort(function (a, b) {
      var as = a.seq === null ? Infinity : a.seq, bs = b.seq === null ? Infinity : b.seq;
      if (as !== bs) return as - bs;
      return (a.at ? a.at.getTime() : 0) - (b.at ? b.at.getTime() : 0);
    });

    var items = [];
    if (c.error) {
      items.push({ key: 'err', sig: 'err:' + c.error.message, build: function () {
        var d = el('div', 'thread-note error');
        d.appendChild(icon('alert'));
        d.appendChild(el('span', null, c.error.sqlstate === '42501' ? 'This conversation is not available to you.' : (c.error.message || 'This conversation could not be opened.')));
        return d;
      } });
    } else if (!c.loaded) {
      items.push({ key: 'loading', sig: 'loading', build: function () { return el('div', 'thread-note loading', 'Loading messages…'); } });
    } else if (c.exhausted) {
      var otherName = otherOf(c).name || '';
      items.push({ key: 'start', sig: 'start:' + otherName, build: function () {
        var d = el('div', 'thread-start');
        d.appendChild(avatar(el('span', 'big'), otherOf(c).id, otherName));
        d.appendChild(el('p', 'thread-start-title', otherName));
        d.appendChild(el('p', 'thread-start-text', 'This is the beginning of your conversation.'));
        return d;
      } });
    } else {
      var loading = c.loadingOlder;
      items.push({ key: 'older', sig: 'older:' + loading, build: function () {
        var b = el('button', 'load-older', loading ? 'Loading…' : 'Load earlier messages');
        b.type = 'button';
        b.setAttribute('data-action', 'load-older');
        if (loading) b.disabled = true;
        return b;
      } });
    }

    var prevDay = null, prev = null;
    var otherName2 = otherOf(c).name || '';
    entries.forEach(function (en) {
      var at = en.at || new Date();
      var dk = dayKey(at);
      if (dk !== prevDay) {
        var label = fmtDayLabel(at);
        items.push({ key: 'd:' + dk, sig: label, build: function () {
          var d = el('div', 'day-sep');
          d.setAttribute('role', 'separator');
          d.appendChild(el('span', null, label));
          return d;
        } });
        prevDay = dk;
        prev = null;
      }
      var sender = en.kind === 'row' ? en.row.sender_id : S.profileId;
      var isCard = en.kind === 'row' && en.row.kind === 'booking';
      var grouped = !!(prev && !isCard && !prev.isCard && sameId(prev.sender, sender) &&
        prev.at && at - prev.at < GROUP_GAP_MS);
      prev = { sender: sender, at: at, isCard: isCard };
      if (en.kind === 'row') {
        var row = en.row;
        var mine = isMine(row);
        var tick = mine ? tickOf(c, row) : null;
        var pinned = isPinned(c, en.seq);
        var sig = c.sigs.get(en.seq) + '|' + tick + '|' + pinned + '|' + grouped + '|' + otherName2;
        items.push({ key: 'm:' + en.seq, sig: sig, build: function () {
          return buildMessage(c, row, { mine: mine, tick: tick, pinned: pinned, grouped: grouped });
        } });
      } else {
        var it = en.item;
        var osig = JSON.stringify([it.seq, it.state, it.error, grouped, it.body]);
        items.push({ key: 'o:' + it.localId, sig: osig, build: function () {
          return buildPending(c, it, grouped);
        } });
      }
    });

    var used = new Set();
    items.forEach(function (it) {
      var k = it.key, n = 1;
      while (used.has(k)) k = it.key + '#' + (n++);
      it.key = k;
      used.add(k);
    });
    var newCache = new Map();
    var nodes = items.map(function (it) {
      var cached = nodeCache.get(it.key);
      var node = cached && cached.sig === it.sig ? cached.node : it.build();
      newCache.set(it.key, { sig: it.sig, node: node });
      return node;
    });
    nodeCache = newCache;
    var cur = m.firstChild;
    nodes.forEach(function (node) {
      if (node === cur) { cur = cur.nextSibling; return; }
      m.insertBefore(node, cur);
    });
    while (cur) { var nx = cur.nextSibling; m.removeChild(cur); cur = nx; }

    if (opts.toBottom) {
      m.scrollTop = m.scrollHeight;
    } else if (opts.keepFromBottom) {
      m.scrollTop = m.scrollHeight - fromBottom;
    } else if (atBottom) {
      m.scrollTop = m.scrollHeight;
    } else if (m.lastElementChild !== lastBefore) {
      S.newBelow = true;
    }
    updateJump();
  }

  function buildMessage(c, row, o) {
    var isCard = row.kind === 'booking';
    var n = el('div', 'msg');
    n.setAttribute('data-seq', String(row.seq));
    if (isCard) n.classList.add('card');
    else n.classList.add(o.mine ? 'mine' : 'theirs');
    if (o.grouped) n.classList.add('grouped');
    if (row.deleted_at) n.classList.add('deleted');
    if (row.hidden_at) n.classList.add('moderated');
    if (o.pinned) n.classList.add('is-pinned');

    var bubble = el('div', 'bubble');
    var gone = !!(row.deleted_at || row.hidden_at);

    if (row.reply_to && !gone) bubble.appendChild(buildQuote(c, row.reply_to));

    if (isCard && !gone) {
      bubble.appendChild(buildCard(row));
    } else {
      if (!gone && row.attachments.length) {
        var atts = el('div', 'attachments' + (row.attachments.length > 1 ? ' multi' : ''));
        var multi = row.attachments.length > 1;
        row.attachments.forEach(function (a) { atts.appendChild(buildAttachment(a, multi)); });
        bubble.appendChild(atts);
      }
      var text = row.deleted_at ? 'This message was deleted' : row.hidden_at ? 'Hidden by a moderator' : (row.body || '');
      var body = el('div', 'body', text);
      if (!text) body.classList.add('empty');
      bubble.appendChild(body);
      if (row.booking && !gone) bubble.appendChild(buildBookingChip(row.booking));
    }

    var meta = el('div', 'meta');
    if (o.pinned) {
      var pm = el('span', 'pin-mark');
      pm.title = 'Pinned';
      pm.appendChild(icon('pin'));
      meta.appendChild(pm);
    }
    if (row.edited_at && !gone) meta.appendChild(el('span', 'edited', 'edited'));
    var at = parseTs(row.created_at);
    var t = el('time', 'time', at ? fmtClock(at) : '');
    if (at) { t.dateTime = at.toISOString(); t.title = at.toLocaleString(); }
    meta.appendChild(t);
    if (o.mine) meta.appendChild(buildTicks(o.tick));
    bubble.appendChild(meta);
    n.appendChild(bubble);

    var rx = row.reactions || {};
    var keys = Object.keys(rx).filter(function (k) { return toNum(rx[k]) > 0; });
    if (keys.length && !gone) {
      var wrap = el('div', 'reactions');
      var mineSet = row.my_reactions.map(normEmoji);
      keys.forEach(function (k) {
        var b = el('button', 'reaction');
        b.type = 'button';
        b.setAttribute('data-emoji', k);
        b.setAttribute('data-action', 'reaction-toggle');
        if (mineSet.indexOf(normEmoji(k)) >= 0) { b.classList.add('mine'); b.setAttribute('aria-pressed', 'true'); }
        else b.setAttribute('aria-pressed', 'false');
        b.appendChild(el('span', 'emoji', k));
        b.appendChild(el('span', 'count', String(toNum(rx[k]))));
        wrap.appendChild(b);
      });
      n.appendChild(wrap);
    }

    if (!gone) {
      var acts = el('div', 'msg-actions');
      acts.appendChild(actionBtn('react-open', 'smile', 'React'));
      acts.appendChild(actionBtn('reply', 'reply', 'Reply'));
      acts.appendChild(actionBtn('pin', 'pin', o.pinned ? 'Unpin' : 'Pin', o.pinned ? 'on' : ''));
      n.appendChild(acts);
    }
    return n;
  }

  function actionBtn(action, iconName, label, extra) {
    var b = el('button', 'act act-' + action + (extra ? ' ' + extra : ''));
    b.type = 'button';
    b.setAttribute('data-action', action);
    b.setAttribute('aria-label', label);
    b.title = label;
    b.appendChild(icon(iconName));
    return b;
  }

  function buildTicks(tick) {
    var s = el('span', 'ticks');
    s.setAttribute('data-tick', tick);
    var label = { pending: 'Sending', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Not sent' }[tick] || tick;
    s.setAttribute('aria-label', label);
    s.title = label;
    s.appendChild(icon(tick === 'pending' ? 'clock' : tick === 'sent' ? 'check' : tick === 'failed' ? 'alert' : 'check2'));
    return s;
  }

  function buildQuote(c, q) {
    var d = el('div', 'reply-quote');
    d.setAttribute('data-action', 'jump');
    d.setAttribute('data-seq', String(toNum(q.seq)));
    d.setAttribute('role', 'button');
    d.tabIndex = 0;
    d.appendChild(el('span', 'rq-name', nameFor(c, q.sender_id)));
    d.appendChild(el('span', 'rq-text', q.preview || ''));
    return d;
  }

  function buildBookingChip(b) {
    b = asJson(b) || {};
    var chip = el('div', 'booking-chip');
    chip.appendChild(icon('calendar'));
    var txt = el('span', 'bc-text');
    txt.appendChild(el('span', 'bc-service', b.service || 'Booking'));
    if (b.starts_at) txt.appendChild(el('span', 'bc-when', fmtWhen(b.starts_at)));
    chip.appendChild(txt);
    if (b.status) chip.appendChild(el('span', 'status status-' + String(b.status).replace(/[^a-z_]/gi, ''), statusLabel(b.status)));
    return chip;
  }

  function buildCard(row) {
    var card = asJson(row.card);
    var box = el('div', 'booking-card');
    var head = el('div', 'bk-head');
    head.appendChild(icon('calendar'));
    var ev = card && typeof card === 'object' ? card.event : null;
    head.appendChild(el('span', 'bk-title', (ev && CARD_EVENT_LABEL[ev]) || 'Booking update'));
    box.appendChild(head);
    box.appendChild(el('div', 'body', row.body || ''));
    if (card && typeof card === 'object' && !Array.isArray(card)) {
      var known = ('service' in card) || ('starts_at' in card) || ('status' in card);
      var dl = el('dl', 'bk-fields');
      var add = function (k, v, cls) {
        if (v === null || v === undefined || v === '') return;
        var row2 = el('div', 'bk-row' + (cls ? ' ' + cls : ''));
        row2.appendChild(el('dt', null, k));
        var dd = el('dd', null, typeof v === 'object' ? JSON.stringify(v) : String(v));
        row2.appendChild(dd);
        dl.appendChild(row2);
      };
      if (known) {
        add('Service', card.service);
        add('When', card.starts_at ? fmtWhen(card.starts_at) : null);
        if (card.previous_starts_at) add('Was', fmtWhen(card.previous_starts_at), 'was');
        if (card.status) {
          var r = el('div', 'bk-row');
          r.appendChild(el('dt', null, 'Status'));
          var dd = el('dd');
          dd.appendChild(el('span', 'status status-' + String(card.status).replace(/[^a-z_]/gi, ''), statusLabel(card.status)));
          r.appendChild(dd);
          dl.appendChild(r);
        }
      } else {
        Object.keys(card).forEach(function (k) { add(k.replace(/_/g, ' '), card[k]); });
      }
      if (dl.childNodes.length) box.appendChild(dl);
    }
    return box;
  }

  function buildAttachment(a, multi) {
    a = a || {};
    var w = toNum(a.width), h = toNum(a.height);
    var tile = el('div', 'attachment');
    var ct = String(a.content_type || 'image');
    tile.setAttribute('data-content-type', ct);
    if (w && h) {
      var maxW = multi ? 150 : 240, maxH = multi ? 190 : 260, minW = multi ? 110 : 140;
      var scale = Math.min(maxW / w, maxH / h);
      var dw = Math.max(minW, Math.round(w * scale));
      tile.style.width = dw + 'px';
      tile.style.aspectRatio = w + ' / ' + h;
    }
    tile.appendChild(icon('image', 'att-icon'));
    var info = el('div', 'att-info');
    info.appendChild(el('span', 'att-type', ct.replace(/^image\//, '').toUpperCase()));
    var size = fmtBytes(a.byte_size);
    info.appendChild(el('span', 'att-size', size));
    tile.appendChild(info);
    tile.title = [a.storage_key ? String(a.storage_key) : '', ct, w && h ? w + '×' + h : '', size].filter(Boolean).join(' · ');
    return tile;
  }

  function buildPending(c, it, grouped) {
    var n = el('div', 'msg mine pending' + (grouped ? ' grouped' : ''));
    n.setAttribute('data-client-msg-id', it.client_msg_id);
    if (it.seq !== null) n.setAttribute('data-seq', String(it.seq));
    if (it.state === 'failed') n.classList.add('failed');
    var bubble = el('div', 'bubble');
    if (it.reply) bubble.appendChild(buildQuote(c, it.reply));
    bubble.appendChild(el('div', 'body', it.body));
    if (it.booking) bubble.appendChild(buildBookingChip(it.booking));
    var meta = el('div', 'meta');
    var at = parseTs(it.createdAt);
    meta.appendChild(el('time', 'time', at ? fmtClock(at) : ''));
    meta.appendChild(buildTicks(it.state === 'failed' ? 'failed' : it.seq !== null ? 'sent' : 'pending'));
    bubble.appendChild(meta);
    n.appendChild(bubble);
    if (it.state === 'failed') {
      var f = el('div', 'failed-note');
      f.appendChild(el('span', null, 'Not sent' + (it.error ? ': ' + it.error : '') + '.'));
      var retry = el('button', 'link', 'Retry');
      retry.type = 'button';
      retry.setAttribute('data-action', 'retry');
      retry.setAttribute('data-local', it.localId);
      var del = el('button', 'link', 'Discard');
      del.type = 'button';
      del.setAttribute('data-action', 'discard');
      del.setAttribute('data-local', it.localId);
      f.appendChild(retry);
      f.appendChild(del);
      n.appendChild(f);
    }
    return n;
  }

  function updateJump() {
    var m = $('messages');
    var far = m.scrollHeight - m.scrollTop - m.clientHeight > 300;
    if (!far) S.newBelow = false;
    var j = $('jump-bottom');
    j.hidden = !far || !S.openChatId;
    j.classList.toggle('has-new', !!S.newBelow);
  }

  function renderComposer() {
    var c = S.chats.get(S.openChatId);
    var rb = $('reply-bar');
    if (S.replyTo && c) {
      rb.hidden = false;
      rb.replaceChildren();
      rb.appendChild(icon('reply', 'bar-icon'));
      var t = el('div', 'bar-text');
      t.appendChild(el('span', 'bar-title', 'Replying to ' + (S.replyTo.name === 'You' ? 'yourself' : S.replyTo.name)));
      t.appendChild(el('span', 'bar-sub', S.replyTo.preview));
      rb.appendChild(t);
      rb.appendChild(closeBtn('cancel-reply', 'Cancel reply'));
    } else {
      rb.hidden = true;
      rb.replaceChildren();
    }
    var bb = $('booking-bar');
    if (S.booking && c) {
      bb.hidden = false;
      bb.replaceChildren();
      bb.appendChild(icon('calendar', 'bar-icon'));
      var t2 = el('div', 'bar-text');
      t2.appendChild(el('span', 'bar-title', 'About ' + (S.booking.service || 'a booking')));
      t2.appendChild(el('span', 'bar-sub', fmtWhen(S.booking.starts_at) + (S.booking.status ? ' · ' + statusLabel(S.booking.status) : '')));
      bb.appendChild(t2);
      bb.appendChild(closeBtn('cancel-booking', 'Unlink booking'));
    } else {
      bb.hidden = true;
      bb.replaceChildren();
    }
    $('booking-btn').hidden = !(c && c.bookings && c.bookings.length);
    updateSendBtn();
  }

  function closeBtn(action, label) {
    var b = el('button', 'icon-btn small');
    b.type = 'button';
    b.setAttribute('data-action', action);
    b.setAttribute('aria-label', label);
    b.title = label;
    b.appendChild(icon('x'));
    return b;
  }

  function updateSendBtn() {
    var v = $('body').value.trim();
    $('send').disabled = !v || !S.openChatId || v.length > MAX_BODY;
  }

  function renderSearch() {
    var box = $('search-results');
    var s = S.search;
    if (!s || s.chatId !== S.openChatId) { box.hidden = true; box.replaceChildren(); return; }
    box.hidden = false;
    var c = S.chats.get(s.chatId);
    var frag = document.createDocumentFragment();
    var head = el('div', 'sr-head');
    var title = s.loading && !s.rows.length ? 'Searching…' :
      s.error ? s.error :
      s.rows.length ? (s.rows.length + (s.more ? '+' : '') + (s.rows.length === 1 ? ' result' : ' results') + ' for “' + s.query + '”') :
      'No messages match “' + s.query + '”';
    head.appendChild(el('span', 'sr-title', title));
    head.appendChild(closeBtn('close-search', 'Close search'));
    frag.appendChild(head);
    var list = el('div', 'sr-list');
    s.rows.forEach(function (r) {
      var item = el('button', 'result');
      item.type = 'button';
      item.setAttribute('data-seq', String(r.seq));
      item.setAttribute('data-action', 'jump');
      var top = el('span', 'sr-meta');
      top.appendChild(el('span', 'sr-who', nameFor(c, r.sender_id)));
      var at = parseTs(r.created_at);
      top.appendChild(el('span', 'sr-when', at ? at.toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' }) + ' · ' + fmtClock(at) : ''));
      item.appendChild(top);
      var snip = el('span', 'snippet');
      snip.appendChild(highlighted(r.snippet));
      item.appendChild(snip);
      list.appendChild(item);
    });
    frag.appendChild(list);
    if (s.more || (s.loading && s.rows.length)) {
      var more = el('button', 'sr-more', s.loading ? 'Loading…' : 'More results');
      more.type = 'button';
      more.setAttribute('data-action', 'search-more');
      more.disabled = !!s.loading;
      frag.appendChild(more);
    }
    box.replaceChildren(frag);
  }

  function renderBanner() {
    var b = $('banner');
    if (!b) return;
    b.replaceChildren();
    b.className = 'banner';
    if (S.conn === 'expired') {
      b.hidden = false;
      b.classList.add('expired');
      b.appendChild(icon('alert'));
      var t = el('div', 'banner-text');
      var hasToken = !!(storedToken() || S.token);
      t.appendChild(el('strong', null, hasToken ? 'Your session has expired.' : 'You are not signed in.'));
      t.appendChild(el('span', null, hasToken
        ? ' Open the chat again from the app to continue; messages you write now are kept and sent when you are back.'
        : ' Open this page from the link in the app.'));
      b.appendChild(t);
    } else if (S.conn === 'connecting' && S.failures >= 2) {
      b.hidden = false;
      b.classList.add('reconnecting');
      b.appendChild(el('span', 'spinner'));
      b.appendChild(el('span', 'banner-text', 'Cannot reach the chat server yet. Trying again…'));
    } else if (S.conn === 'reconnecting') {
      b.hidden = false;
      b.classList.add('reconnecting');
      b.appendChild(el('span', 'spinner'));
      b.appendChild(el('span', 'banner-text', 'Connection lost. Reconnecting… Messages you send are delivered once you are back online.'));
    } else {
      b.hidden = true;
    }
  }

  var toastTimer = null;
  function toast(msg) {
    var t = $('toast');
    t.textContent = msg;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.hidden = true; }, 4000);
  }

  /* ------------------------------------------------------------------ *
   * Popover (reaction palette, pin note, booking picker)
   * ------------------------------------------------------------------ */

  var popAnchor = null;

  function openPopover(anchor, content, cls) {
    var p = $('popover');
    p.className = 'popover' + (cls ? ' ' + cls : '');
    p.replaceChildren(content);
    p.hidden = false;
    popAnchor = anchor;
    var r = anchor.getBoundingClientRect();
    var pw = p.offsetWidth, ph = p.offsetHeight;
    var vw = document.documentElement.clientWidth, vh = document.documentElement.clientHeight;
    var left = Math.min(Math.max(8, r.left + r.width / 2 - pw / 2), vw - pw - 8);
    var top = r.top - ph - 8;
    if (top < 8) top = Math.min(r.bottom + 8, vh - ph - 8);
    p.style.left = Math.round(left) + 'px';
    p.style.top = Math.round(top) + 'px';
    var focusable = p.querySelector('input, button');
    if (focusable) focusable.focus({ preventScroll: true });
  }

  function closePopover() {
    var p = $('popover');
    if (!p.hidden) { p.hidden = true; p.replaceChildren(); }
    popAnchor = null;
  }

  function openPalette(anchor, seq) {
    var c = S.chats.get(S.openChatId);
    var row = c && c.msgs.get(seq);
    if (!row) return;
    var mine = row.my_reactions.map(normEmoji);
    var box = el('div', 'palette');
    box.setAttribute('role', 'menu');
    PALETTE.forEach(function (e) {
      var b = el('button', 'pal-emoji', e);
      b.type = 'button';
      b.setAttribute('data-emoji', e);
      b.setAttribute('role', 'menuitemcheckbox');
      var on = mine.indexOf(normEmoji(e)) >= 0;
      b.setAttribute('aria-checked', on ? 'true' : 'false');
      if (on) b.classList.add('mine');
      b.addEventListener('click', function () { closePopover(); toggleReaction(seq, e); });
      box.appendChild(b);
    });
    openPopover(anchor, box, 'palette-pop');
  }

  function openPinNote(anchor, seq) {
    var f = el('form', 'pin-form');
    f.appendChild(el('label', 'pin-form-title', 'Pin this message'));
    var input = el('input');
    input.type = 'text';
    input.maxLength = 200;
    input.placeholder = 'Add a note (optional), e.g. colour formula';
    f.appendChild(input);
    var row = el('div', 'pin-form-actions');
    var cancel = el('button', 'btn ghost', 'Cancel');
    cancel.type = 'button';
    cancel.addEventListener('click', closePopover);
    var ok = el('button', 'btn primary', 'Pin');
    ok.type = 'submit';
    row.appendChild(cancel);
    row.appendChild(ok);
    f.appendChild(row);
    f.addEventListener('submit', function (e) {
      e.preventDefault();
      var note = input.value;
      closePopover();
      doPin(seq, note);
    });
    openPopover(anchor, f, 'form-pop');
  }

  function openBookingPicker(anchor) {
    var c = S.chats.get(S.openChatId);
    if (!c) return;
    var list = el('div', 'booking-pick');
    list.appendChild(el('div', 'pick-title', 'Link a booking'));
    (c.bookings || []).forEach(function (b) {
      var it = el('button', 'pick-item');
      it.type = 'button';
      it.appendChild(el('span', 'pick-service', b.service || 'Booking'));
      it.appendChild(el('span', 'pick-when', fmtWhen(b.starts_at)));
      if (b.status) it.appendChild(el('span', 'status status-' + String(b.status).replace(/[^a-z_]/gi, ''), statusLabel(b.status)));
      it.addEventListener('click', function () {
        S.booking = b;
        closePopover();
        renderComposer();
        $('body').focus();
      });
      list.appendChild(it);
    });
    openPopover(anchor, list, 'pick-pop');
  }

  /* ------------------------------------------------------------------ *
   * Wiring
   * ------------------------------------------------------------------ */

  function autoGrow() {
    var ta = $('body');
    ta.style.height = 'auto';
    ta.style.height = Math.min(ta.scrollHeight, 160) + 'px';
    updateSendBtn();
  }

  function seqOfNode(node) {
    var m = node.closest('[data-seq]');
    return m ? toNum(m.getAttribute('data-seq')) : null;
  }

  function wire() {
    $('back').appendChild(icon('back'));
    $('search-icon').appendChild(icon('search'));
    $('send').appendChild(icon('send'));
    $('booking-btn').appendChild(icon('calendar'));
    var jb = $('jump-bottom');
    jb.appendChild(icon('down'));

    $('inbox').addEventListener('click', function (e) {
      var item = e.target.closest('.inbox-item');
      if (!item) return;
      openChat(item.getAttribute('data-chat-id'));
    });

    $('tab-inbox').addEventListener('click', function () { setArchived(false); });
    $('tab-archived').addEventListener('click', function () { setArchived(true); });
    $('back').addEventListener('click', closeChat);

    var m = $('messages');
    m.addEventListener('scroll', function () {
      var c = S.chats.get(S.openChatId);
      S.stickBottom = isAtBottom(m);
      if (c && m.scrollTop < 120 && c.loaded && !c.exhausted && !c.loadingOlder) {
        loadOlder(c).catch(function (err) { reportError(err, 'History'); });
      }
      updateJump();
    }, { passive: true });

    // the thread shrinks (typing line, reply bar, a taller composer, a
    // smaller window): stay at the bottom when we were there
    S.stickBottom = true;
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (S.stickBottom) m.scrollTop = m.scrollHeight;
      }).observe(m);
    }

    m.addEventListener('click', function (e) {
      var a = e.target.closest('[data-action]');
      var msg = e.target.closest('.msg');
      if (!a) {
        // touch: a tap on a bubble shows its actions
        if (msg && !msg.classList.contains('pending')) {
          var was = msg.classList.contains('show-actions');
          var open = m.querySelectorAll('.msg.show-actions');
          for (var i = 0; i < open.length; i++) open[i].classList.remove('show-actions');
          if (!was && !window.getSelection().toString()) msg.classList.add('show-actions');
        }
        return;
      }
      var action = a.getAttribute('data-action');
      var seq = seqOfNode(a);
      switch (action) {
        case 'react-open': openPalette(a, seq); break;
        case 'reaction-toggle': toggleReaction(seq, a.getAttribute('data-emoji')); break;
        case 'reply': startReply(seq); break;
        case 'pin': {
          var c = S.chats.get(S.openChatId);
          if (c && isPinned(c, seq)) doUnpin(seq); else openPinNote(a, seq);
          break;
        }
        case 'jump': jumpTo(seq); break;
        case 'load-older': {
          var c2 = S.chats.get(S.openChatId);
          if (c2) loadOlder(c2).catch(function (err) { reportError(err, 'History'); });
          break;
        }
        case 'retry': {
          var id = a.getAttribute('data-local');
          S.outbox.forEach(function (it) {
            if (it.localId === id) { it.state = 'pending'; it.error = null; }
          });
          saveOutbox();
          renderMessages();
          flushOutbox();
          break;
        }
        case 'discard': {
          var id2 = a.getAttribute('data-local');
          S.outbox = S.outbox.filter(function (it) { return it.localId !== id2; });
          saveOutbox();
          renderMessages();
          break;
        }
        default: break;
      }
    });
    m.addEventListener('keydown', function (e) {
      if ((e.key === 'Enter' || e.key === ' ') && e.target.matches('.reply-quote')) {
        e.preventDefault();
        jumpTo(seqOfNode(e.target));
      }
    });

    $('pinned').addEventListener('click', function (e) {
      var a = e.target.closest('[data-action]');
      if (!a) return;
      var seq = seqOfNode(a);
      if (a.getAttribute('data-action') === 'unpin') { e.stopPropagation(); doUnpin(seq); }
      else jumpTo(seq);
    });
    $('pinned').addEventListener('keydown', function (e) {
      if ((e.key === 'Enter' || e.key === ' ') && e.target.matches('.pin')) {
        e.preventDefault();
        jumpTo(seqOfNode(e.target));
      }
    });

    $('search-form').addEventListener('submit', function (e) {
      e.preventDefault();
      runSearch($('search-input').value, false);
    });
    $('search-input').addEventListener('keydown', function (e) {
      if (e.key === 'Escape') { closeSearchPanel(true); e.target.blur(); }
    });
    $('search-input').addEventListener('input', function (e) {
      if (!e.target.value) closeSearchPanel(false);
    });
    $('search-results').addEventListener('click', function (e) {
      var a = e.target.closest('[data-action]');
      if (!a) return;
      var action = a.getAttribute('data-action');
      if (action === 'close-search') closeSearchPanel(true);
      else if (action === 'search-more' && S.search) runSearch(S.search.query, true);
      else if (action === 'jump') jumpTo(seqOfNode(a));
    });

    var composer = $('composer');
    var ta = $('body');
    composer.addEventListener('submit', function (e) { e.preventDefault(); sendCurrent(); });
    ta.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        sendCurrent();
      } else if (e.key === 'Escape' && (S.replyTo || S.booking)) {
        S.replyTo = null;
        S.booking = null;
        renderComposer();
      }
    });
    ta.addEventListener('input', function () {
      autoGrow();
      if (S.openChatId) S.drafts.set(S.openChatId, ta.value);
      maybeSendTyping();
    });
    composer.addEventListener('click', function (e) {
      var a = e.target.closest('[data-action]');
      if (!a) return;
      var action = a.getAttribute('data-action');
      if (action === 'cancel-reply') { S.replyTo = null; renderComposer(); ta.focus(); }
      if (action === 'cancel-booking') { S.booking = null; renderComposer(); ta.focus(); }
    });
    $('booking-btn').addEventListener('click', function (e) { openBookingPicker(e.currentTarget); });

    jb.addEventListener('click', function () {
      m.scrollTo({ top: m.scrollHeight, behavior: 'smooth' });
      S.newBelow = false;
      updateJump();
    });

    document.addEventListener('mousedown', function (e) {
      var p = $('popover');
      if (!p.hidden && !p.contains(e.target) && (!popAnchor || !popAnchor.contains(e.target))) closePopover();
    });
    document.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') closePopover();
    });
    window.addEventListener('resize', closePopover);
    m.addEventListener('scroll', function () { if (popAnchor && m.contains(popAnchor)) closePopover(); }, { passive: true });

    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'visible') {
        scheduleRead();
        if ((S.conn === 'reconnecting' || S.conn === 'connecting') && !S.sock) { S.backoff = 500; connect(); }
      }
    });
    window.addEventListener('online', function () {
      if ((S.conn === 'reconnecting' || S.conn === 'connecting') && !S.sock) { S.backoff = 500; connect(); }
    });
    window.addEventListener('hashchange', function () {
      var f = readFragment();
      if (!f) return;
      if (f.token && S.conn === 'expired') tryRenew();
      else if (f.token && !S.sock && S.conn !== 'online') connect();
      if (f.chat && S.conn === 'online') { S.wantedChatId = null; openChat(f.chat); }
    });
    // re-render relative day labels ("Today") now and then
    setInterval(function () { if (S.openChatId) renderMessages(); renderInbox(); }, 60000);
  }

  function setArchived(on) {
    if (S.archivedView === on) return;
    S.archivedView = on;
    $('tab-inbox').classList.toggle('active', !on);
    $('tab-archived').classList.toggle('active', on);
    $('tab-inbox').setAttribute('aria-selected', String(!on));
    $('tab-archived').setAttribute('aria-selected', String(on));
    S.inbox = [];
    S.inboxLoaded = false;
    renderInbox();
    if (S.conn === 'online') refreshInbox().catch(function (e) { reportError(e, 'Inbox'); });
  }

  /* ------------------------------------------------------------------ *
   * For tests: read-only
   * ------------------------------------------------------------------ */

  window.stylistChat = Object.freeze({
    state: function () { return S.conn; },
    messages: function (chatId) {
      var c = S.chats.get(String(chatId));
      if (!c) return [];
      return Array.from(c.msgs.keys()).sort(function (a, b) { return a - b; });
    },
    profileId: function () { return S.profileId; },
    openChatId: function () { return S.openChatId; }
  });

  function start() {
    readFragment();
    loadOutbox();
    wire();
    renderAll();
    connect();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
