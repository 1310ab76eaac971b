/* The widget's conversation logic without DOM or socket: docs/e2e.md's client, mirroring
 * chatserver/sdk/e2e.py check for check. No plaintext is stored: a reload decrypts again. */
import * as e2e from './shared/e2e-core.js';

export const STORAGE_KEY = 'counselling-chat';
const PAGE = 500; // messages per answer to resume and fetch (docs/protocol.md)

// A failed check, as e2e-core's: its `reason` is a key of the i18n catalogue.
export const Problem = e2e.E2EError;

// sessionStorage, or memory where a third-party frame gets none.
export function tabStorage(win = globalThis) {
  try {
    win.sessionStorage.getItem(STORAGE_KEY);
    return win.sessionStorage;
  } catch {
    const m = new Map();
    return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, v), clear: () => m.clear() };
  }
}

export function sessionStore(storage, key = STORAGE_KEY) {
  return {
    load() {
      try {
        return JSON.parse(storage.getItem(key));
      } catch {
        return null;
      }
    },
    save: (value) => storage.setItem(key, JSON.stringify(value)),
    wipe: () => storage.clear(),
  };
}

// SHA-256(challenge ":" nonce) with `difficulty` leading zero bits.
export async function solvePow({ challenge, difficulty }) {
  const utf8 = new TextEncoder();
  for (let i = 0; ; i++) {
    const nonce = i.toString(16);
    const d = await e2e.sha256(utf8.encode(`${challenge}:${nonce}`));
    let bits = 0;
    for (const byte of d) {
      bits += Math.clz32(byte) - 24;
      if (byte) break;
    }
    if (bits >= difficulty) return nonce;
  }
}

// {data, ack, text}; `text` only for a `msg`.
function decrypt(key, cid, dir, f, body) {
  return e2e.decryptMessage({ key, cid, dir, gen: f.gen, n: f.n, kind: f.kind, id: f.id, body });
}

// sdk_e2e.Channel: one side's keys and counters.
export class Channel {
  constructor(cid, me) {
    this.cid = cid;
    this.me = me; // 'c2t' for the client
    this.peer = me === 'c2t' ? 't2c' : 'c2t';
    this.keys = new Map(); // gen -> {c2t, t2c}
    this.gen = 0;
    this.sent = new Map(); // gen -> next n to send
    this.received = new Map(); // gen -> next n expected
    this.seen = new Map(); // "gen:n" -> body
    this.finished = new Set(); // generations the team's rekey ended
    this.closed = false; // a valid final-counts close arrived
  }

  async seal(text, kind = 'msg', id = null) {
    const gen = this.gen;
    const n = this.sent.get(gen) ?? 0;
    this.sent.set(gen, n + 1);
    id = id ?? `${this.me[0]}${gen}-${n}`;
    const key = this.keys.get(gen)[this.me];
    const ack = this.received.get(gen) ?? 0;
    const body = await e2e.encryptMessage({ key, cid: this.cid, dir: this.me, gen, n, kind, id, text, ack });
    return { id, gen, n, kind, body };
  }

  // The final-counts close of the current generation.
  sealClose() {
    const gen = this.gen;
    return this.seal(e2e.countsText('cc1 close', gen, this.sent.get(gen) ?? 0, this.received.get(gen) ?? 0), 'close');
  }

  // Order and integrity of a peer's message: {text|bytes, ack}.
  async open(f) {
    if (f.conversation !== this.cid) throw new Problem('otherConversation');
    const body = e2e.b64decode(f.body);
    const place = `${f.gen}:${f.n}`;
    if (this.seen.has(place)) throw new Problem(e2e.equalBytes(this.seen.get(place), body) ? 'replay' : 'equivocation');
    if (!this.keys.has(f.gen)) throw new Problem('unknownGen');
    if (this.finished.has(f.gen)) throw new Problem('finishedGen');
    if (f.n !== (this.received.get(f.gen) ?? 0)) throw new Problem('missing');
    let out;
    try {
      out = await decrypt(this.keys.get(f.gen)[this.peer], this.cid, this.peer, f, body);
    } catch (err) {
      // Opens only as our own direction: reflected.
      const mine = await decrypt(this.keys.get(f.gen)[this.me], this.cid, this.me, f, body).catch(() => null);
      throw mine ? new Problem('reflected') : err;
    }
    if (out.ack > (this.sent.get(f.gen) ?? 0)) throw new Problem('badAck');
    this.seen.set(place, body);
    this.received.set(f.gen, f.n + 1);
    if (f.kind === 'close') this.checkClose(out.data, f.gen);
    return out;
  }

  // Compares the peer's final counts with ours (docs/e2e.md, "Closing").
  checkClose(bytes, gen) {
    let counts;
    try {
      counts = e2e.parseCounts('cc1 close', bytes);
    } catch {
      throw new Problem('closeMismatch');
    }
    if (counts.gen !== gen) throw new Problem('closeMismatch');
    if (counts.sent !== (this.received.get(gen) ?? 0) - 1) throw new Problem('missing');
    if (counts.received !== (this.sent.get(gen) ?? 0)) throw new Problem('closeMismatch');
    this.closed = true;
  }
}

// sdk_e2e.SecureClient plus ordering, resume and delivery states.
export class Chat {
  // o: {store, transmit, emit, fetchBundle(epoch), team, topic, pin, consent, minEpoch}
  constructor(o) {
    Object.assign(this, o);
    this.queue = Promise.resolve();
    this.reset();
  }

  reset() {
    this.saved = null;
    this.bundle = this.key = this.pub = this.channel = null;
    this.state = 'new';
    this.have = 0; // every seq up to here is processed
    this.buffer = new Map(); // seq -> frame, waiting for a lower seq
    this.ownSeqs = new Set(); // seqs of our acked messages above `have`
    this.target = null; // resumed.last_seq while catching up
    this.mine = new Map(); // id -> {gen, n, kind, key, status}
    this.queued = []; // our generation-0 bodies, for the transcript
    this.queuedTexts = [];
    this.transcripts = new Map(); // gen -> transcript hash
    this.epochs = new Map(); // gen -> epoch
    this.bundles = new Map(); // epoch -> checked bundle
    this.unacked = null; // a rekey to acknowledge once caught up
    this.gapTimer = null;
  }

  serial(fn) {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => {});
    return next;
  }

  async checkBundle(wire, now = Date.now()) {
    this.bundle = await e2e.checkBundle(wire, { pin: this.pin, team: this.team, now, minEpoch: this.minEpoch ?? null });
    this.bundles.set(this.bundle.epoch, this.bundle);
    this.epochs.set(0, this.bundle.epoch);
    this.wire = wire;
    this.at = now;
    return this.bundle;
  }

  async create() {
    const pair = await e2e.generateEcdh();
    this.key = pair.privateKey;
    this.pub = await e2e.publicBytes(pair);
    this.pkcs8 = e2e.b64encode(await e2e.exportPkcs8(pair));
    this.state = 'starting';
  }

  async restore() {
    const s = this.store.load();
    if (!s || s.v !== 1 || !s.cid || s.team !== this.team) return false;
    await this.checkBundle(s.bundle, s.at);
    this.key = await e2e.importPrivateEcdh(e2e.b64decode(s.key), false);
    this.pub = e2e.b64decode(s.pub);
    this.pkcs8 = s.key;
    this.saved = s;
    await this.open(s.cid);
    this.state = 'resuming';
    return true;
  }

  async open(cid) {
    const b = this.bundle;
    this.channel = new Channel(cid, 'c2t');
    this.channel.keys.set(0, await e2e.queueKeys(this.key, b.tPub, b.team, b.epoch, cid, this.pub));
  }

  save() {
    if (this.saved && !this.leaving) this.store.save(this.saved);
  }

  connected(hello) {
    return this.serial(async () => {
      if (this.saved) {
        this.asked = this.have;
        this.transmit({ type: 'resume', conversation: this.saved.cid, token: this.saved.token, last_seq: this.have });
      } else if (this.state === 'starting') {
        await this.sendStart(hello.pow);
      }
    });
  }

  async sendStart(pow) {
    const frame = { type: 'start', team: this.team, client_key: e2e.b64encode(this.pub), consent: this.consent, epoch: this.bundle.epoch };
    if (this.topic) frame.topic = this.topic;
    if (pow) Object.assign(frame, { pow_challenge: pow.challenge, pow_nonce: await solvePow(pow) });
    this.transmit(frame);
  }

  onFrame(f) {
    return this.serial(() => this.handle(f)).catch((err) => this.emit('problem', { code: err.reason || 'malformed' }));
  }

  async handle(f) {
    switch (f.type) {
      case 'started':
        await this.open(f.conversation);
        this.saved = { v: 1, team: this.team, cid: f.conversation, token: f.token, key: this.pkcs8,
          pub: e2e.b64encode(this.pub), bundle: this.wire, at: this.at, outbox: [], resent: false };
        this.save();
        this.setState('waiting');
        this.emit('position', { position: f.position, estimate: f.estimate_seconds ?? null });
        break;
      case 'resumed':
        if (!e2e.equalBytes(e2e.b64decode(f.client_key || ''), this.pub)) throw new Problem('bad_key');
        this.setState(f.state);
        this.target = f.last_seq;
        if (f.position) this.emit('position', { position: f.position, estimate: f.estimate_seconds ?? null });
        if (this.removing) this.transmit({ type: 'delete' });
        await this.drain();
        break;
      case 'message':
        if (f.seq > this.have && !this.buffer.has(f.seq)) {
          this.buffer.set(f.seq, f);
          await this.drain();
        }
        break;
      case 'ack':
        this.acked(f);
        await this.drain();
        break;
      case 'position':
        this.emit('position', { position: f.position, estimate: f.estimate_seconds ?? null });
        break;
      case 'state':
        this.setState(f.state, f.reason);
        break;
      case 'typing':
        if (f.sender === 'team') this.emit('typing', { active: f.active });
        break;
      case 'error':
        await this.refused(f);
        break;
      default: // a type this version does not know: shown, not dropped
        throw new Problem('unknownKind');
    }
  }

  async refused(f) {
    if (f.code === 'pow_required' && this.state === 'starting') return this.sendStart(f.pow);
    if (f.answers === 'delete' && f.code !== 'not_found') {
      this.removing = false;
      return this.emit('delFailed', { held: f.code === 'legal_hold' });
    }
    if (f.code === 'not_found' || f.code === 'blocked') {
      this.store.wipe();
      this.saved = null;
      this.state = 'gone';
      return this.emit('fatal', { code: f.code === 'blocked' ? 'blocked' : 'notFound' });
    }
    if (f.code === 'closed') { // outside the team's hours: nothing was started
      this.state = 'gone';
      return this.emit('fatal', { code: 'closed' });
    }
    this.emit('problem', { code: 'server', why: f.message });
  }

  setState(state, reason = null) {
    this.state = state;
    if (state === 'deleted') this.store.wipe();
    this.emit('state', { state, reason, clean: !!this.channel?.closed });
  }

  acked(f) {
    const m = this.mine.get(f.id);
    if (f.seq > this.have) this.ownSeqs.add(f.seq);
    if (!m) return;
    if (m.status === 'sending') this.status(m, 'stored');
    this.unqueue(f.id);
  }

  unqueue(id) {
    if (!this.saved) return;
    this.saved.outbox = this.saved.outbox.filter((o) => o.id !== id);
    this.save();
  }

  status(m, status) {
    m.status = status;
    if (m.key) this.emit('status', { key: m.key, status });
  }

  // Processes frames in seq order; a gap that stays is fetched again.
  async drain() {
    for (;;) {
      const next = this.have + 1;
      const f = this.buffer.get(next);
      if (f) {
        this.buffer.delete(next);
        this.have = next;
        try {
          await this.process(f);
        } catch (err) {
          this.emit('problem', { code: err.reason || 'malformed' });
        }
      } else if (this.ownSeqs.delete(next)) {
        this.have = next;
      } else break;
    }
    // A long backlog: the next page once this one is in.
    if (this.target > this.have && this.have >= this.asked + PAGE) this.fetch();
    if (this.buffer.size && !this.gapTimer) {
      const at = this.have;
      this.gapTimer = setTimeout(() => {
        this.gapTimer = null;
        if (this.have === at && this.buffer.size) this.fetch();
      }, 1500);
    }
    if (this.target !== null && this.have >= this.target) {
      this.target = null;
      await this.caughtUp();
    }
  }

  fetch() {
    this.asked = this.have;
    this.transmit({ type: 'fetch', after: this.have });
  }

  async process(f) {
    if (f.sender === 'client') return this.own(f);
    if (f.kind === 'accept') return this.accepted(f);
    const out = await this.channel.open(f);
    this.read(f.gen, out.ack);
    if (f.kind === 'msg') this.emit('message', { key: `s${f.seq}`, who: 'team', text: out.text });
    else if (f.kind === 'rekey') await this.rekeyed(f, out.data);
    else if (f.kind === 'close') this.emit('state', { state: this.state, clean: true });
    else throw new Problem('unknownKind');
  }

  // sdk_e2e.SecureClient._rekeyed (docs/e2e.md, "Rekey"): the team ends generation g;
  // check its counts and the epoch's bundle, derive g + 1, acknowledge with our counts.
  async rekeyed(f, text) {
    const ch = this.channel;
    const g = f.gen;
    let r;
    try {
      r = await e2e.parseRekey(text);
    } catch {
      throw new Problem('badRekey');
    }
    if (g === 0 || g !== ch.gen || r.gen !== g || !this.transcripts.has(g)) throw new Problem('badRekey');
    if (r.sent !== f.n) throw new Problem('missing');
    if (r.received > (ch.sent.get(g) ?? 0) || r.epoch < this.epochs.get(g)) throw new Problem('badRekey');
    let bundle = this.bundles.get(r.epoch);
    if (!bundle) {
      const wire = await this.fetchBundle(r.epoch);
      bundle = await e2e.checkBundle(wire, { pin: this.pin, team: this.team, now: Date.now(), minEpoch: Math.max(...this.bundles.keys()) });
      if (bundle.epoch !== r.epoch) throw new Problem('badRekey');
      this.bundles.set(r.epoch, bundle);
    }
    const chained = await e2e.rekeyTranscript({ previous: this.transcripts.get(g), gen: g + 1, team: bundle.team, epoch: r.epoch,
      bundleHash: bundle.bundleHash, ePub: r.ePub, sent: r.sent, received: r.received });
    await this.advance(g, r.ePub, bundle, chained);
    // A reload's history may hold our acknowledgement further on.
    this.unacked = g;
    if (this.target === null) await this.acknowledge();
  }

  // Generation g + 1: its keys, transcript and epoch.
  async advance(g, ePub, bundle, transcript) {
    const ch = this.channel;
    ch.keys.set(g + 1, await e2e.chatKeys(await e2e.ecdh(this.key, ePub), await e2e.ecdh(this.key, bundle.tPub), transcript));
    ch.finished.add(g);
    ch.gen = g + 1;
    this.transcripts.set(g + 1, transcript);
    this.epochs.set(g + 1, bundle.epoch);
  }

  async acknowledge() {
    const g = this.unacked;
    if (g === null) return;
    this.unacked = null;
    const ch = this.channel;
    if ((ch.sent.get(g + 1) ?? 0) > 0) return; // already in the history
    await this.post(e2e.countsText('cc1 rekey ack', g, ch.sent.get(g) ?? 0, ch.received.get(g) ?? 0), 'rekey');
  }

  // Our own stored message: known, or history to rebuild after a reload.
  async own(f) {
    const known = this.mine.get(f.id);
    if (known) {
      if (known.status === 'sending') this.status(known, 'stored');
      return this.unqueue(f.id);
    }
    if (!this.channel.keys.has(f.gen)) throw new Problem('unknownGen');
    if (f.n !== (this.channel.sent.get(f.gen) ?? 0)) throw new Problem('missing');
    await this.reread(f, 'stored');
    this.unqueue(f.id);
  }

  async reread(f, status) {
    const ch = this.channel;
    const body = e2e.b64decode(f.body);
    const out = await decrypt(ch.keys.get(f.gen).c2t, ch.cid, 'c2t', f, body);
    ch.sent.set(f.gen, Math.max(ch.sent.get(f.gen) ?? 0, f.n + 1));
    this.remember(f, f.kind === 'msg' ? out.text : null, body, status);
  }

  // A resent queued message shows as the original.
  remember(f, text, body, status) {
    const m = { gen: f.gen, n: f.n, kind: f.kind, status, key: null };
    this.mine.set(f.id, m);
    if (f.gen === 0 && f.kind === 'msg') {
      this.queued[f.n] = body;
      this.queuedTexts[f.n] = text;
    }
    if (f.kind !== 'msg') return;
    const resent = /-q(\d+)$/.exec(f.id);
    if (resent) {
      m.key = this.mine.get(`c0-${resent[1]}`)?.key ?? null;
      return;
    }
    m.key = f.id;
    this.emit('message', { key: f.id, who: 'me', text, status });
  }

  // Our messages below the peer's ack reached the team.
  read(gen, ack) {
    for (const m of this.mine.values()) if (m.gen === gen && m.n < ack && m.status !== 'read') this.status(m, 'read');
  }

  // sdk_e2e.SecureClient._accepted, then resend what the accept missed.
  async accepted(f) {
    const ch = this.channel;
    const b = this.bundle;
    if (ch.gen !== 0 || f.gen !== 0 || f.n !== (ch.received.get(0) ?? 0)) throw new Problem('badAccept');
    const body = e2e.b64decode(f.body);
    const opened = await e2e.openAccept({ kQT2c: ch.keys.get(0).t2c, team: b.team, epoch: b.epoch, cid: ch.cid, cPub: this.pub, body });
    if (opened.nSeen > this.queued.length) throw new Problem('badAccept');
    const expected = await e2e.transcript({ team: b.team, epoch: b.epoch, bundleHash: b.bundleHash, cid: ch.cid,
      cPub: this.pub, ePub: opened.ePub, nSeen: opened.nSeen, queueHash: await e2e.queueHash(this.queued.slice(0, opened.nSeen)) });
    if (!e2e.equalBytes(expected, opened.transcript)) throw new Problem('badAccept');
    ch.seen.set(`0:${f.n}`, body);
    ch.received.set(0, f.n + 1);
    await this.advance(0, opened.ePub, b, expected);
    this.read(0, opened.nSeen);
    if (this.saved && !this.saved.resent) {
      this.saved.resent = true;
      for (let k = opened.nSeen; k < this.queued.length; k++) {
        await this.post(this.queuedTexts[k], 'msg', `c1-${ch.sent.get(1) ?? 0}-q${k}`);
      }
      this.save();
    }
  }

  // Caught up after a resume: show and resend what has no ack.
  async caughtUp() {
    for (const o of this.saved?.outbox ?? []) {
      if (!this.mine.has(o.id)) {
        if (!this.channel.keys.has(o.gen)) continue;
        await this.reread(o, 'sending');
      }
      this.transmit({ type: 'send', ...o });
    }
    await this.acknowledge();
  }

  // Kept in the stored outbox until acked.
  async post(text, kind = 'msg', id = null) {
    const s = await this.channel.seal(text, kind, id);
    const o = { id: s.id, gen: s.gen, n: s.n, kind, body: e2e.b64encode(s.body) };
    this.remember(o, text, s.body, 'sending');
    this.saved.outbox.push(o);
    this.save();
    this.transmit({ type: 'send', ...o });
  }

  say(text) {
    return this.serial(() => this.post(text));
  }

  typing(active) {
    if (this.saved && (this.state === 'waiting' || this.state === 'active')) this.transmit({ type: 'typing', active });
  }

  // Final counts when a counsellor is there, then `close`.
  end() {
    return this.serial(async () => {
      if (!this.saved || !['waiting', 'active'].includes(this.state)) return;
      if (this.channel.gen > 0) {
        const s = await this.channel.sealClose();
        this.transmit({ type: 'send', id: s.id, gen: s.gen, n: s.n, kind: 'close', body: e2e.b64encode(s.body) });
      }
      this.transmit({ type: 'close' });
    });
  }

  // Quick exit: wipe at once, then end on the server.
  async leave() {
    this.leaving = true;
    this.store.wipe();
    await this.end();
  }

  // Self-delete, now or once resumed; only the server's `deleted` wipes (docs/widget.md).
  remove() {
    if (!this.saved) return;
    this.removing = true;
    this.transmit({ type: 'delete' });
  }

  wipe() {
    this.leaving = true;
    this.store.wipe();
    clearTimeout(this.gapTimer);
    this.reset();
    this.pkcs8 = this.wire = this.removing = null;
  }
}
