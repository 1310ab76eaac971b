/* The duty console's end-to-end part, no DOM: the held conversations, with the team keys
 * unlock.js opened: accept, read, reply, rekey, take over after a reload or a transfer,
 * internal notes, handover notes, close. It mirrors chatserver/sdk/desk.py check for check;
 * docs/console.md explains it to counsellors, docs/e2e.md to reviewers.
 *
 * Nothing decrypted is stored: keys and texts live in this page's memory and are gone
 * with it. */
import * as e2e from '/widget/shared/e2e-core.js';
import * as staff from '/widget/shared/e2e-staff.js';
import { Channel, Problem } from '/widget/chat-core.js';
import { Refused } from '/widget/shared/session.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const PAGE = 500; // messages per answer to a fetch (docs/protocol.md): longer histories page

// ---------------------------------------------------------------------------
// Held conversations

/** How long a sent message may wait for the server's ack before the console says so. */
export const ACK_LATE_MS = 10_000;

class Held {
  constructor(info, team) {
    this.cid = info.conversation;
    this.team = info.team;
    this.topic = info.topic ?? null;
    this.epoch = info.epoch; // the epoch this side sends in
    this.queueEpoch = info.epoch;
    this.cPub = e2e.b64decode(info.client_key);
    this.teamKeys = team;
    this.channel = new Channel(this.cid, 't2c');
    this.transcripts = new Map();
    this.unacknowledged = new Set(); // generations rekeyed, the client's ack outstanding
    this.have = 0; // every seq up to here is processed
    this.buffer = new Map(); // seq -> message frame waiting for a lower seq
    this.own = new Set(); // seqs of our own acked messages above `have` (never sent back to us)
    this.target = 0;
    this.reached = null; // resolves when `have` reaches `target`
    this.pageEnd = 0; // the last seq the latest fetch answers with
    this.queued = []; // the client's generation-0 bodies
    this.escrow = new Map(); // b64(E_pub) -> private key, from conv_key envelopes
    this.messages = []; // {sender, text, id, gen, n, status, at}
    this.notes = []; // {text, author, at}
    this.handovers = [];
    this.state = 'active';
    this.queue = Promise.resolve();
    this.ready = false;
  }

  serial(fn) {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => {});
    return next;
  }
}

export class Desk {
  /**
   * @param {{transmit(frame: object): unknown, emit(event: string, data: object): void,
   *          me: {id: string, sigPriv: CryptoKey, sigPub: Uint8Array}, teams: import('./unlock.js').UnlockedKeys['teams']}} o
   *        teams: what unlock() returned, by team slug
   */
  constructor(o) {
    Object.assign(this, o);
    // Declared for the type checker only (Object.assign above sets them).
    /** @type {typeof o.transmit} */ this.transmit;
    /** @type {typeof o.emit} */ this.emit;
    /** @type {typeof o.me} */ this.me;
    /** @type {typeof o.teams} */ this.teams;
    this.held = new Map();
    this.reading = new Map(); // conversations read along (not held), while being read
    this.waiters = [];
    this.expected = new Set(); // conversations whose `assigned` this console asked for
  }

  // ------------------------------------------------------------- frames in and out
  request(frame, match) {
    return new Promise((resolve, reject) => {
      this.waiters.push({ frame, match, resolve, reject });
      this.transmit(frame);
    });
  }

  // Every frame from the socket comes here (and to the page).
  onFrame(f) {
    if (f.type === 'error') {
      const i = this.waiters.findIndex((w) => w.frame.type === f.answers && (w.frame.conversation ?? null) === (f.conversation ?? null) && (!f.ref || !w.frame.id || w.frame.id === f.ref));
      if (i >= 0) this.waiters.splice(i, 1)[0].reject(new Refused(f));
      return;
    }
    const i = this.waiters.findIndex((w) => w.match(f));
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(f);
    const held = f.conversation ? this.held.get(f.conversation) : null;
    switch (f.type) {
      case 'message': {
        const target = held ?? this.reading.get(f.conversation);
        if (target) this.arrive(target, f);
        break;
      }
      case 'assigned':
        if (this.expected.has(f.conversation)) break; // accept() handles it
        if (!this.held.has(f.conversation)) this.takeOver(f).catch((err) => this.emit('problem', { cid: f.conversation, err }));
        break;
      case 'released':
        if (held) {
          this.held.delete(f.conversation);
          this.emit('released', { cid: f.conversation, reason: f.reason });
        }
        break;
      case 'state':
        if (held) {
          held.state = f.state;
          // After the messages that came before it: `confirmed` says whether the client's
          // final counts arrived and matched ours (docs/e2e.md, "Closing with final counts").
          held.serial(() => this.emit('state', { cid: f.conversation, state: f.state, reason: f.reason ?? null, confirmed: held.channel.closed }));
        }
        break;
      case 'typing':
        if (held && f.sender === 'client') this.emit('typing', { cid: f.conversation, active: f.active });
        break;
      case 'envelope':
        if (held) held.serial(() => this.colleagueEnvelope(held, f)).catch((err) => this.emit('problem', { cid: held.cid, err }));
        break;
    }
  }

  // The socket closed: pending requests fail (they are retried by the person).
  disconnected() {
    for (const w of this.waiters.splice(0)) w.reject(new Refused({ code: 'disconnected', message: 'the connection was lost' }));
    this.held.clear();
    this.reading.clear();
    this.expected.clear();
  }

  team(slug) {
    const t = this.teams.get(slug);
    if (!t) throw new Problem('tampering');
    return t;
  }

  epochKey(held, epoch) {
    const k = held.teamKeys.epochs.get(epoch);
    if (!k) throw new Problem('noEpochKey');
    return k;
  }

  // ------------------------------------------------------------- ordering
  arrive(held, f) {
    if (f.seq <= held.have || held.buffer.has(f.seq)) return;
    held.buffer.set(f.seq, f);
    held.serial(() => this.drain(held)).catch((err) => this.emit('problem', { cid: held.cid, err }));
  }

  async drain(held) {
    for (;;) {
      if (held.own.delete(held.have + 1)) {
        held.have += 1;
        continue;
      }
      if (!held.buffer.has(held.have + 1)) break;
      const f = held.buffer.get(held.have + 1);
      held.buffer.delete(held.have + 1);
      await this.apply(held, f);
      held.have = f.seq;
    }
    if (held.reached && held.have >= held.target) {
      held.reached();
      held.reached = null;
    } else if (held.reached && held.have >= held.pageEnd) {
      this.fetchPage(held); // a long history: the next page
    }
  }

  // Messages 1 … lastSeq in order (fetched; live ones fall into place by seq).
  history(held, lastSeq) {
    held.target = lastSeq;
    const done = new Promise((resolve) => {
      held.reached = resolve;
    });
    this.fetchPage(held);
    held.serial(() => this.drain(held));
    return done;
  }

  fetchPage(held) {
    held.pageEnd = held.have + PAGE;
    this.transmit({ type: 'fetch', conversation: held.cid, after: held.have });
  }

  // One stored message, in seq order: checked exactly as sdk_desk.py checks it.
  async apply(held, f) {
    const ch = held.channel;
    if (f.sender === 'client') {
      if (f.gen === 0) held.queued.push(e2e.b64decode(f.body));
      if (f.gen >= 2 && f.n === 0 && f.kind !== 'rekey') throw new Problem('tampering');
      const out = await ch.open(f);
      this.readUpTo(held, f.gen, out.ack);
      if (f.kind === 'rekey') return this.acknowledged(held, f, out.data);
      if (f.kind === 'msg') this.push(held, { sender: 'client', text: utf8.decode(out.data), id: f.id, seq: f.seq, at: f.at });
      if (f.kind === 'close') this.emit('clientClosed', { cid: held.cid });
      return;
    }
    if (f.kind === 'accept') return this.replayAccept(held, f);
    const out = await this.replayOwn(held, f);
    if (f.kind === 'msg') {
      const read = (ch.peerAcks?.get(f.gen) ?? 0) > f.n;
      const author = f.author && f.author !== this.me.id ? f.author : null; // null: this counsellor
      this.push(held, { sender: 'team', text: utf8.decode(out.data), id: f.id, gen: f.gen, n: f.n, seq: f.seq, at: f.at, status: read ? 'read' : 'stored', author });
    } else if (f.kind === 'rekey') {
      const r = await e2e.parseRekey(out.data);
      if (r.gen !== f.gen || r.sent !== f.n) throw new Problem('tampering');
      await this.nextGeneration(held, r.gen, r.epoch, this.escrowed(held, r.ePub), r.sent, r.received);
    }
  }

  // The client has received our messages of `gen` below `ack`: they are read.
  readUpTo(held, gen, ack) {
    const acks = (held.channel.peerAcks ??= new Map());
    if (ack <= (acks.get(gen) ?? 0)) return;
    acks.set(gen, ack);
    for (const m of held.messages) {
      if (m.sender === 'team' && m.gen === gen && m.n < ack && m.status !== 'read') {
        m.status = 'read';
        this.emit('status', { cid: held.cid, id: m.id, status: 'read' });
      }
    }
  }

  push(held, message) {
    held.messages.push(message);
    if (held.ready) this.emit('message', { cid: held.cid, message });
  }

  // One of our own earlier messages, read back from storage (after a reload or transfer).
  async replayOwn(held, f) {
    const ch = held.channel;
    if (!ch.keys.has(f.gen) || f.n !== (ch.sent.get(f.gen) ?? 0)) throw new Problem('tampering');
    const out = await e2e.decryptMessage({ key: ch.keys.get(f.gen).t2c, cid: held.cid, dir: 't2c', gen: f.gen, n: f.n, kind: f.kind, id: f.id, body: e2e.b64decode(f.body) });
    ch.sent.set(f.gen, f.n + 1);
    return out;
  }

  escrowed(held, ePub) {
    const key = held.escrow.get(e2e.b64encode(ePub));
    if (!key) throw new Problem('noEscrow');
    return key;
  }

  async replayAccept(held, f) {
    const ch = held.channel;
    const { tPriv, bundle } = this.epochKey(held, held.queueEpoch);
    if (f.gen !== 0 || f.n !== (ch.sent.get(0) ?? 0)) throw new Problem('tampering');
    const opened = await e2e.openAccept({ kQT2c: ch.keys.get(0).t2c, team: bundle.team, epoch: held.queueEpoch, cid: held.cid, cPub: held.cPub, body: e2e.b64decode(f.body) });
    const expected = await e2e.transcript({
      team: bundle.team, epoch: held.queueEpoch, bundleHash: bundle.bundleHash, cid: held.cid, cPub: held.cPub,
      ePub: opened.ePub, nSeen: opened.nSeen, queueHash: await e2e.queueHash(held.queued.slice(0, opened.nSeen)),
    });
    if (!e2e.equalBytes(expected, opened.transcript)) throw new Problem('tampering');
    const eKey = this.escrowed(held, opened.ePub);
    ch.sent.set(0, f.n + 1);
    ch.keys.set(1, await e2e.chatKeys(await e2e.ecdh(eKey, held.cPub), await e2e.ecdh(tPriv, held.cPub), expected));
    ch.gen = 1;
    ch.finished.add(0);
    held.transcripts.set(1, expected);
    held.epoch = held.queueEpoch;
  }

  async nextGeneration(held, g, epoch, eKey, sent, received) {
    const { tPriv, bundle } = this.epochKey(held, epoch);
    const ePub = await e2e.publicBytes(eKey);
    const chained = await e2e.rekeyTranscript({ previous: held.transcripts.get(g), gen: g + 1, team: bundle.team, epoch, bundleHash: bundle.bundleHash, ePub, sent, received });
    held.channel.keys.set(g + 1, await e2e.chatKeys(await e2e.ecdh(eKey, held.cPub), await e2e.ecdh(tPriv, held.cPub), chained));
    held.channel.gen = g + 1;
    held.transcripts.set(g + 1, chained);
    held.epoch = epoch;
    held.unacknowledged.add(g);
  }

  acknowledged(held, f, data) {
    const ch = held.channel;
    let c;
    try {
      c = e2e.parseCounts('cc1 rekey ack', data);
    } catch {
      throw new Problem('tampering');
    }
    if (f.n !== 0 || c.gen !== f.gen - 1 || !held.unacknowledged.has(c.gen)) throw new Problem('tampering');
    if (c.sent !== (ch.received.get(c.gen) ?? 0)) throw new Problem('missing');
    if (c.received !== (ch.sent.get(c.gen) ?? 0)) throw new Problem('undelivered');
    held.unacknowledged.delete(c.gen);
    ch.finished.add(c.gen);
  }

  // ------------------------------------------------------------- envelopes
  async openItem(held, item) {
    const author = held.teamKeys.roster.members.get(item.author ?? '');
    if (!author) throw new Problem('tampering');
    const body = e2e.b64decode(item.body);
    const { tPriv, bundle } = this.epochKey(held, (await staff.parseEnvelope(body)).epoch);
    const env = await staff.openEnvelope({ recipientPriv: tPriv, recipientPub: bundle.tPub, envelope: body, authorPub: author.sigPub });
    if (env.conversation !== held.cid || env.purpose !== item.purpose) throw new Problem('tampering');
    return env.payload;
  }

  async readEnvelopes(held, items) {
    for (const item of items) {
      if (item.purpose === 'conv_key') {
        const key = await e2e.importPrivateEcdh(await this.openItem(held, item));
        held.escrow.set(e2e.b64encode(await e2e.publicBytes(key)), key);
      } else if (item.purpose === 'note' || item.purpose === 'handover') {
        const text = utf8.decode(await this.openItem(held, item));
        (item.purpose === 'note' ? held.notes : held.handovers).push({ text, author: item.author, at: item.at, id: item.id });
      }
    }
  }

  async colleagueEnvelope(held, f) {
    if (f.purpose !== 'note' && f.purpose !== 'handover') return;
    const text = utf8.decode(await this.openItem(held, f));
    const note = { text, author: f.author, at: Date.now(), id: f.id };
    (f.purpose === 'note' ? held.notes : held.handovers).push(note);
    this.emit('note', { cid: held.cid, note });
  }

  async seal(held, purpose, payload) {
    const { bundle } = this.epochKey(held, held.epoch);
    return e2e.b64encode(await staff.sealEnvelope({ authorPriv: this.me.sigPriv, authorPub: this.me.sigPub, recipientPub: bundle.tPub, purpose, conversation: held.cid, epoch: held.epoch, payload }));
  }

  async store(held, id, purpose, body, epoch) {
    return this.request({ type: 'envelope', conversation: held.cid, id, purpose, body, epoch }, (f) => f.type === 'ack' && f.id === id && f.conversation === held.cid);
  }

  // Escrow `E` of a new generation to the epoch key, so the team can read it later.
  async escrow(held, gen, epoch, eKey) {
    const { bundle } = this.epochKey(held, epoch);
    const body = e2e.b64encode(await staff.sealEnvelope({ authorPriv: this.me.sigPriv, authorPub: this.me.sigPub, recipientPub: bundle.tPub, purpose: 'conv_key', conversation: held.cid, epoch, payload: await e2e.exportPkcs8(eKey) }));
    await this.store(held, `conv-key-${gen}`, 'conv_key', body, epoch);
    held.escrow.set(e2e.b64encode(await e2e.publicBytes(eKey)), eKey);
  }

  // ------------------------------------------------------------- operations
  /** Accept a waiting conversation; a conversation accepted before is taken over. */
  async accept(cid) {
    this.expected.add(cid);
    try {
      const assigned = await this.request({ type: 'accept', conversation: cid }, (f) => f.type === 'assigned' && f.conversation === cid);
      return await this.hold(assigned, true);
    } finally {
      this.expected.delete(cid);
    }
  }

  /**
   * Read a conversation of the team without holding it (supervisors and admins): its
   * whole history, checked as a takeover checks it; nothing is sent and the counters stay
   * with the counsellor who holds it. Resolves with the conversation's messages, notes
   * and handovers as they are now.
   */
  async read(cid, team) {
    const list = await this.request({ type: 'envelopes', conversation: cid }, (f) => f.type === 'envelopes' && f.conversation === cid);
    const held = new Held({ conversation: cid, team, epoch: list.epoch, client_key: list.client_key }, this.team(team));
    this.reading.set(cid, held);
    try {
      const { tPriv, bundle } = this.epochKey(held, held.queueEpoch);
      held.channel.keys.set(0, await e2e.queueKeys(tPriv, held.cPub, bundle.team, held.queueEpoch, held.cid, held.cPub));
      await held.serial(() => this.readEnvelopes(held, list.items));
      await this.history(held, list.last_seq);
      return held;
    } finally {
      if (this.reading.get(cid) === held) this.reading.delete(cid);
    }
  }

  // A conversation this console holds now but has no keys for (reload, transfer, return to queue).
  takeOver(assigned) {
    return this.hold(assigned, false);
  }

  async hold(info, accepting) {
    const held = new Held(info, this.team(info.team));
    this.held.set(held.cid, held);
    const { tPriv, bundle } = this.epochKey(held, held.queueEpoch);
    held.channel.keys.set(0, await e2e.queueKeys(tPriv, held.cPub, bundle.team, held.queueEpoch, held.cid, held.cPub));
    const list = await this.request({ type: 'envelopes', conversation: held.cid }, (f) => f.type === 'envelopes' && f.conversation === held.cid);
    await held.serial(() => this.readEnvelopes(held, list.items));
    await this.history(held, Math.max(info.last_seq, list.last_seq));
    const before = held.channel.sent.get(0) ?? 0;
    await held.serial(async () => {
      if (before === 0 && accepting) await this.sendAccept(held, bundle, tPriv);
      else if (held.state === 'active' && this.held.get(held.cid) === held) await this.rekey(held);
    });
    held.ready = true;
    this.emit('held', { cid: held.cid, held, by: info.by ?? null });
    return held;
  }

  async sendAccept(held, bundle, tPriv) {
    const ch = held.channel;
    const pair = await e2e.generateEcdh();
    const ePub = await e2e.publicBytes(pair);
    const nSeen = held.queued.length;
    const tr = await e2e.transcript({ team: bundle.team, epoch: held.queueEpoch, bundleHash: bundle.bundleHash, cid: held.cid, cPub: held.cPub, ePub, nSeen, queueHash: await e2e.queueHash(held.queued) });
    const body = await staff.makeAccept({ kQT2c: ch.keys.get(0).t2c, team: bundle.team, epoch: held.queueEpoch, cid: held.cid, cPub: held.cPub, ePub, nSeen, transcript: tr });
    await this.escrow(held, 1, held.queueEpoch, pair.privateKey); // before the accept: the team can always read it
    const n = ch.sent.get(0) ?? 0;
    ch.sent.set(0, n + 1);
    await this.sendFrame(held, { id: `t0-${n}`, gen: 0, n, kind: 'accept', body: e2e.b64encode(body) });
    ch.keys.set(1, await e2e.chatKeys(await e2e.ecdh(pair.privateKey, held.cPub), await e2e.ecdh(tPriv, held.cPub), tr));
    ch.gen = 1;
    ch.finished.add(0);
    held.transcripts.set(1, tr);
  }

  async sendFrame(held, m) {
    const frame = { type: 'send', conversation: held.cid, id: m.id, body: typeof m.body === 'string' ? m.body : e2e.b64encode(m.body), gen: m.gen, n: m.n, kind: m.kind };
    // The server acks once the message is stored; an ack this late means it may not be.
    const late = setTimeout(() => this.emit('ackLate', { cid: held.cid, id: m.id }), ACK_LATE_MS);
    let ack;
    try {
      ack = await this.request(frame, (f) => f.type === 'ack' && f.id === m.id && f.conversation === held.cid);
    } finally {
      clearTimeout(late);
    }
    this.emit('acked', { cid: held.cid, id: m.id });
    if (ack.seq > held.have) {
      held.own.add(ack.seq);
      held.serial(() => this.drain(held)); // after the operation that sent it
    }
    return ack;
  }

  /** A new generation with a fresh `E'` (this device now owns the counters). */
  async rekey(held, epoch = held.epoch) {
    const ch = held.channel;
    const g = ch.gen;
    if (epoch < held.epoch) throw new Problem('tampering');
    this.epochKey(held, epoch);
    const pair = await e2e.generateEcdh();
    const sent = ch.sent.get(g) ?? 0;
    const received = ch.received.get(g) ?? 0;
    const text = await staff.rekeyText({ gen: g, sent, received, epoch, ePub: await e2e.publicBytes(pair) });
    await this.escrow(held, g + 1, epoch, pair.privateKey);
    const m = await ch.seal(text, 'rekey');
    await this.sendFrame(held, m);
    await this.nextGeneration(held, g, epoch, pair.privateKey, sent, received);
  }

  /** Send a text; resolves when it is stored. The message is in `held.messages` at once. */
  say(cid, text) {
    const held = this.held.get(cid);
    if (!held) return Promise.reject(new Problem('notHeld'));
    return held.serial(async () => {
      const m = await held.channel.seal(text);
      const message = { sender: 'team', text, id: m.id, gen: m.gen, n: m.n, status: 'sending', at: Date.now() };
      held.messages.push(message);
      this.emit('message', { cid, message });
      const ack = await this.sendFrame(held, m);
      message.seq = ack.seq;
      if (message.status === 'sending') message.status = 'stored';
      this.emit('status', { cid, id: m.id, status: message.status });
      return message;
    });
  }

  typing(cid, active) {
    if (this.held.get(cid)?.state === 'active') this.transmit({ type: 'typing', conversation: cid, active });
  }

  /** An internal note, sealed to the team's epoch key; never sent to the client. */
  note(cid, text) {
    const held = this.held.get(cid);
    return held.serial(async () => {
      const id = `note-${e2e.b64url(e2e.randomBytes(9))}`;
      await this.store(held, id, 'note', await this.seal(held, 'note', text), held.epoch);
      const note = { text, author: this.me.id, at: Date.now(), id };
      held.notes.push(note);
      this.emit('note', { cid, note });
    });
  }

  /** Hand over to a colleague (or the queue without `to`), with an optional note. */
  transfer(cid, to, note) {
    const held = this.held.get(cid);
    return held.serial(async () => {
      const frame = { type: 'transfer', conversation: cid };
      if (to) frame.to = to;
      if (note) frame.note = await this.seal(held, 'handover', note);
      await this.request(frame, (f) => f.type === 'released' && f.conversation === cid);
    });
  }

  /** Final counts to the client, then the end (with a category for the statistics). */
  close(cid, category) {
    const held = this.held.get(cid);
    return held.serial(async () => {
      if (held.state === 'active') await this.sendFrame(held, await held.channel.sealClose());
      const frame = { type: 'close', conversation: cid };
      if (category) frame.category = category;
      await this.request(frame, (f) => f.type === 'released' && f.conversation === cid);
    });
  }

  /** End the conversation and refuse this client for `hours` (no address is used). */
  block(cid, hours) {
    const held = this.held.get(cid);
    return held.serial(() => this.request({ type: 'block', conversation: cid, hours }, (f) => f.type === 'released' && f.conversation === cid));
  }
}
