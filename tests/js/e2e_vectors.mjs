// The cc1 test vectors in both directions, for widget/shared/e2e.js.
//
// Node:    node tests/js/e2e_vectors.mjs [VECTORS (directory or .json file)] [PRODUCED.json]
//          checks every case of tests/vectors/e2e/*.json (or the given path), writes the
//          browser-made cases to PRODUCED.json if given; exit 0/1, last line "N passed, M failed".
// Browser: import { runVectors } from '/tests/js/e2e_vectors.mjs';
//          const { passed, failed, failures, produced } = await runVectors({ encoding: json, … });
//
// Formats: tests/vectors/e2e/README.md (the vectors) and tests/js/README.md (what is produced).

import * as e2e from '../../widget/shared/e2e.js';

const enc = new TextEncoder();
const b = (text) => e2e.b64decode(text);
const b64 = (bytes) => e2e.b64encode(bytes);

class Mismatch extends Error {}

function same(actual, expected, what) {
  const ok = actual instanceof Uint8Array
    ? expected instanceof Uint8Array && e2e.equalBytes(actual, expected)
    : actual === expected;
  if (!ok) {
    const show = (x) => (x instanceof Uint8Array ? b64(x) : JSON.stringify(x));
    throw new Mismatch(`${what}: got ${show(actual)}, want ${show(expected)}`);
  }
}

async function failsWith(reason, fn, what) {
  try {
    await fn();
  } catch (err) {
    if (err instanceof e2e.E2EError) return same(err.reason, reason, `${what} reason`);
    throw err;
  }
  throw new Mismatch(`${what}: succeeded, want ${reason}`);
}

const privDh = (text) => e2e.importPrivateEcdh(b(text));
const privSig = (text) => e2e.importPrivateEcdsa(b(text));

/** One checker per op of tests/vectors/e2e/README.md: throws when the case does not hold. */
const CHECKS = {
  async seq(i, o) {
    const values = i.parts.map((p) => ('str' in p ? p.str : 'int' in p ? p.int : b(p.bytes)));
    same(e2e.seq(...values), b(o.bytes), 'seq');
  },
  async pad(i, o) {
    same(e2e.pad(b(i.data)), b(o.padded), 'pad');
    same(e2e.unpad(b(o.padded)), b(i.data), 'unpad');
  },
  async unpad_fails(i, o) {
    await failsWith(o.reason, () => e2e.unpad(b(i.data)), 'unpad');
  },
  async kid(i, o) {
    same(await e2e.kid(b(i.pub)), b(o.kid), 'kid');
  },
  async pin(i, o) {
    const key = await e2e.importPublicEcdsa(b(i.r_pub));
    same(new Uint8Array(await globalThis.crypto.subtle.exportKey('spki', key)), b(o.spki), 'spki');
    same(await e2e.pin(b(i.r_pub)), o.pin, 'pin');
    same(await e2e.safetyNumber(b(i.r_pub)), o.safety_number, 'safety number');
  },
  async ecdh(i, o) {
    same(await e2e.ecdh(await privDh(i.priv_pkcs8), b(i.peer_pub)), b(o.shared), 'ecdh');
  },
  async hkdf(i, o) {
    same(await e2e.hkdf(b(i.ikm), b(i.salt), b(i.info), i.length), b(o.okm), 'hkdf');
  },
  async verify(i, o) {
    same(await e2e.verify(b(i.pub), b(i.message), b(i.sig)), o.valid, 'verify');
  },
  async public_key_fails(i, o) {
    await failsWith(o.reason, () => e2e.importPublicEcdh(b(i.pub)), 'ECDH import');
    await failsWith(o.reason, () => e2e.importPublicEcdsa(b(i.pub)), 'ECDSA import');
  },
  async queue_keys(i, o) {
    const k = await e2e.queueKeys(await privDh(i.own_pkcs8), b(i.peer_pub), i.team, i.epoch, i.cid, b(i.c_pub));
    same(k.c2t, b(o.c2t), 'c2t');
    same(k.t2c, b(o.t2c), 't2c');
  },
  async message(i, o) {
    const fields = { key: b(i.key), cid: i.cid, dir: i.dir, gen: i.gen, n: i.n, kind: i.kind, id: i.id };
    same(await e2e.encryptMessage({ ...fields, text: b(i.text), ack: i.ack, nonce: b(i.nonce) }), b(o.body), 'body');
    const out = await e2e.decryptMessage({ ...fields, body: b(o.body) });
    same(enc.encode(out.text), b(i.text), 'text');
    same(out.ack, i.ack, 'ack');
  },
  async message_fails(i, o) {
    const m = { key: b(i.key), cid: i.cid, dir: i.dir, gen: i.gen, n: i.n, kind: i.kind, id: i.id, body: b(i.body) };
    await failsWith(o.reason, () => e2e.decryptMessage(m), 'decrypt');
  },
  async transcript(i, o) {
    const qh = await e2e.queueHash(i.queue_bodies.map(b));
    same(qh, b(o.queue_hash), 'queue hash');
    const t = await e2e.transcript({ team: i.team, epoch: i.epoch, bundleHash: b(i.bundle_hash), cid: i.cid,
      cPub: b(i.c_pub), ePub: b(i.e_pub), nSeen: i.n_seen, queueHash: qh });
    same(t, b(o.transcript), 'transcript');
  },
  async accept(i, o) {
    const ctx = { kQT2c: b(i.k_q_t2c), team: i.team, epoch: i.epoch, cid: i.cid, cPub: b(i.c_pub) };
    const body = await e2e.makeAccept({ ...ctx, ePub: b(i.e_pub), nSeen: i.n_seen, transcript: b(i.transcript), nonce: b(i.nonce) });
    same(body, b(o.body), 'accept body');
    const acc = await e2e.openAccept({ ...ctx, body: b(o.body) });
    same(acc.ePub, b(i.e_pub), 'E_pub');
    same(acc.nSeen, i.n_seen, 'n_seen');
    same(acc.transcript, b(i.transcript), 'transcript');
  },
  async chat_keys(i, o) {
    const k = await e2e.chatKeys(b(i.ecdh1), b(i.ecdh2), b(i.transcript));
    same(k.c2t, b(o.c2t), 'c2t');
    same(k.t2c, b(o.t2c), 't2c');
  },
  async counts(i, o) {
    const text = e2e.countsText(i.tag, i.gen, i.sent, i.received);
    same(text, b(o.text), 'counts text');
    const back = e2e.parseCounts(i.tag, text);
    same(JSON.stringify(back), JSON.stringify({ gen: i.gen, sent: i.sent, received: i.received }), 'parsed counts');
  },
  async rekey(i, o) {
    const fields = { gen: i.gen, sent: i.sent, received: i.received, epoch: i.epoch, ePub: b(i.e_pub) };
    const text = await e2e.rekeyText(fields);
    same(text, b(o.text), 'rekey text');
    const back = await e2e.parseRekey(text);
    for (const k of ['gen', 'sent', 'received', 'epoch']) same(back[k], fields[k], `parsed ${k}`);
    same(back.ePub, fields.ePub, 'parsed E_pub');
  },
  async rekey_fails(i, o) {
    await failsWith(o.reason, () => e2e.parseRekey(b(i.text)), 'parseRekey');
  },
  async rekey_transcript(i, o) {
    const t = await e2e.rekeyTranscript({ previous: b(i.previous), gen: i.gen, team: i.team, epoch: i.epoch,
      bundleHash: b(i.bundle_hash), ePub: b(i.e_pub), sent: i.sent, received: i.received });
    same(t, b(o.transcript), 'rekey transcript');
  },
  async hold(i, o) {
    const keys = i.keys.map((k) => ({ gen: k.gen, c2t: b(k.c2t), t2c: b(k.t2c) }));
    const notes = i.notes.map(b);
    const payload = e2e.holdPayload(i.cid, keys, notes);
    same(payload, b(o.payload), 'hold payload');
    const back = e2e.parseHold(payload, i.cid);
    same(back.keys.length, keys.length, 'generations');
    back.keys.forEach((k, j) => {
      same(k.gen, keys[j].gen, 'gen');
      same(k.c2t, keys[j].c2t, 'c2t');
      same(k.t2c, keys[j].t2c, 't2c');
    });
    same(back.notes.length, notes.length, 'notes');
    back.notes.forEach((n, j) => same(n, notes[j], 'note'));
  },
  async hold_fails(i, o) {
    await failsWith(o.reason, () => e2e.parseHold(b(i.payload), i.cid), 'parseHold');
  },
  async bundle_bytes(i, o) {
    const fields = { team: i.team, epoch: i.epoch, tPub: b(i.t_pub), notBefore: i.not_before, notAfter: i.not_after };
    same(e2e.bundleBytes(fields), b(o.bytes), 'bundle bytes');
    same(await e2e.bundleHash(fields), b(o.hash), 'bundle hash');
  },
  async check_bundle(i, o) {
    const check = () => e2e.checkBundle(i.bundle, { pin: i.pin, team: i.team, now: i.now, minEpoch: i.min_epoch });
    if (o.ok) {
      const parsed = await check();
      same(parsed.bundleHash, await e2e.sha256(e2e.bundleBytes(parsed)), 'bundle hash');
    } else {
      await failsWith(o.reason, check, 'check_bundle');
    }
  },
  async envelope(i, o) {
    const authorPriv = await privSig(i.author_pkcs8);
    const made = await e2e.sealEnvelope({
      authorPriv, authorPub: b(i.author_pub), recipientPub: b(i.recipient_pub), purpose: i.purpose,
      conversation: i.conversation, epoch: i.epoch, payload: b(i.payload),
      ephemeral: await privDh(i.ephemeral_pkcs8), nonce: b(i.nonce),
    });
    const mine = await e2e.parseEnvelope(made);
    same(mine.header, b(o.header), 'header');
    same(mine.ct, b(o.ct), 'ct');
    const recipientPriv = await privDh(i.recipient_pkcs8);
    for (const [who, envelope] of [['theirs', b(o.envelope)], ['mine', made]]) {
      const out = await e2e.openEnvelope({ recipientPriv, recipientPub: b(i.recipient_pub), envelope, authorPub: b(i.author_pub) });
      same(out.payload, b(i.payload), `${who}: payload`);
      same(out.purpose, i.purpose, `${who}: purpose`);
      same(out.conversation, i.conversation, `${who}: conversation`);
      same(out.epoch, i.epoch, `${who}: epoch`);
    }
  },
  async envelope_fails(i, o) {
    const args = { recipientPriv: await privDh(i.recipient_pkcs8), recipientPub: b(i.recipient_pub),
      envelope: b(i.envelope), authorPub: b(i.author_pub) };
    await failsWith(o.reason, () => e2e.openEnvelope(args), 'open_envelope');
  },
  async password(i, o) {
    const m = await e2e.deriveMaster(i.password, i.salt, i.username);
    same(m, b(o.master), 'master');
    same(await e2e.authCredential(m, b(i.secret)), o.auth, 'auth');
    same(await e2e.wrapKey(m, b(i.secret)), b(o.wrap), 'wrap');
  },
  async password_rule(i, o) {
    same(e2e.passwordProblem(i.password, { admin: i.admin ?? false, personal: i.personal ?? [] }), o.problem, 'password rule');
  },
  async identity(i, o) {
    const id = { wrap: b(i.wrap), salt: i.salt, username: i.username };
    const dhPriv = await privDh(i.dh_pkcs8);
    const sigPriv = await privSig(i.sig_pkcs8);
    same(await e2e.exportPkcs8(dhPriv), b(i.dh_pkcs8), 'PKCS#8 of I_dh as WebCrypto exports it');
    same(await e2e.exportPkcs8(sigPriv), b(i.sig_pkcs8), 'PKCS#8 of I_sig as WebCrypto exports it');
    same(await e2e.wrapIdentity({ ...id, dhPriv, sigPriv, nonce: b(i.nonce) }), b(o.wrapped), 'wrapped');
    const keys = await e2e.unwrapIdentity({ ...id, dhPub: b(i.dh_pub), sigPub: b(i.sig_pub), wrapped: b(o.wrapped) });
    same(await e2e.publicBytes(keys.dhPriv), b(i.dh_pub), 'I_dh public half');
    same(await e2e.publicBytes(keys.sigPriv), b(i.sig_pub), 'I_sig public half');
  },
  async roster_bytes(i, o) {
    same(e2e.rosterBytes({ team: i.team, version: i.version, issuedAt: i.issued_at, members: i.members.map(member) }),
      b(o.bytes), 'roster bytes');
  },
  async check_roster(i, o) {
    const check = () => e2e.checkRoster(i.roster, { pin: i.pin, team: i.team, minVersion: i.min_version });
    if (o.ok) {
      const r = await check();
      same([...r.members.keys()].sort().join('\n'), i.roster.members.map((m) => m.id).sort().join('\n'), 'member ids');
      for (const m of i.roster.members) {
        const got = r.members.get(m.id);
        same(got.dhPub, b(m.dh_pub), `${m.id}: dh_pub`);
        same(got.sigPub, b(m.sig_pub), `${m.id}: sig_pub`);
        same(got.role, m.role, `${m.id}: role`);
      }
      same(r.version, i.roster.version, 'version');
      same(r.rPub, b(i.roster.r_pub), 'r_pub');
    } else {
      await failsWith(o.reason, check, 'check_roster');
    }
  },
  async enrol_mac(i, o) {
    const fields = enrolFields(i);
    same(await e2e.enrolMac(b(i.secret), fields), b(o.mac), 'mac');
    await e2e.checkEnrolMac(b(i.secret), fields, b(o.mac));
  },
  async enrol_mac_fails(i, o) {
    await failsWith(o.reason, () => e2e.checkEnrolMac(b(i.secret), enrolFields(i), b(i.mac)), 'check_enrol_mac');
  },
};

function without(object, key) {
  const { [key]: _, ...rest } = object;
  return rest;
}

function member(m) {
  return { id: m.id, role: m.role, dhPub: b(m.dh_pub), sigPub: b(m.sig_pub), since: m.since };
}

function enrolFields(i) {
  return { team: i.team, inviteId: i.invite_id, username: i.username, dhPub: b(i.dh_pub), sigPub: b(i.sig_pub) };
}

/**
 * Checks every case of every file.
 * @param {Object<string, {suite: string, file: string, cases: object[]}>} files by name
 * @returns {Promise<{passed: number, failed: number, failures: object[]}>}
 */
export async function checkFiles(files) {
  let passed = 0;
  const failures = [];
  for (const [name, file] of Object.entries(files)) {
    if (file.suite !== 'cc1') {
      failures.push({ file: name, index: -1, op: null, error: `suite ${file.suite}` });
      continue;
    }
    for (const [index, c] of file.cases.entries()) {
      try {
        const check = CHECKS[c.op];
        if (!check) throw new Mismatch(`unknown op ${c.op}`);
        await check(c.input, c.output);
        passed++;
      } catch (err) {
        failures.push({ file: name, index, op: c.op, name: c.name ?? null,
          error: err instanceof Mismatch ? err.message : `${err && err.name}: ${err && err.message}${err && err.reason ? ` (${err.reason})` : ''}` });
      }
    }
  }
  return { passed, failed: failures.length, failures };
}

// ---------------------------------------------------------------------------
// The other way round: cases made here (fresh keys from WebCrypto, random nonces, WebCrypto
// signatures), in the same format as tests/vectors/e2e/*.json, for the Python side.

const ORIGIN = 'https://chat.example.org';
const TEAM = 'youth-line';

async function fresh(kind) {
  const pair = kind === 'sig' ? await e2e.generateEcdsa() : await e2e.generateEcdh();
  return { priv: pair.privateKey, pub: await e2e.publicBytes(pair), pkcs8: await e2e.exportPkcs8(pair) };
}

function randomCid() {
  return e2e.b64url(e2e.randomBytes(16)).slice(0, 22);
}

async function produceEncoding() {
  const cases = [];
  for (const parts of [[], [{ str: 'cc1' }], [{ str: 'cc1 msg' }, { int: 0 }, { int: 2 ** 53 - 1 }, { bytes: '' }],
    [{ str: 'Grüße, 👋' }, { bytes: b64(e2e.randomBytes(300)) }, { int: 7 }]]) {
    const values = parts.map((p) => ('str' in p ? p.str : 'int' in p ? p.int : b(p.bytes)));
    cases.push({ op: 'seq', input: { parts }, output: { bytes: b64(e2e.seq(...values)) } });
  }
  for (const size of [0, 1, 255, 256, 4095, 4096, 5000]) {
    const data = e2e.randomBytes(Math.min(size, 65536));
    cases.push({ op: 'pad', input: { data: b64(data) }, output: { padded: b64(e2e.pad(data)) } });
  }
  for (const bad of [new Uint8Array(0), new Uint8Array(3), Uint8Array.of(1, 0x81, 0)]) {
    cases.push({ op: 'unpad_fails', input: { data: b64(bad) }, output: { reason: 'bad_padding' } });
  }
  for (let k = 0; k < 2; k++) {
    const { pub } = await fresh('sig');
    cases.push({ op: 'kid', input: { pub: b64(pub) }, output: { kid: b64(await e2e.kid(pub)) } });
    const spki = new Uint8Array(await globalThis.crypto.subtle.exportKey('spki', await e2e.importPublicEcdsa(pub)));
    cases.push({ op: 'pin', input: { r_pub: b64(pub) },
      output: { spki: b64(spki), pin: await e2e.pin(pub), safety_number: await e2e.safetyNumber(pub) } });
  }
  return cases;
}

async function producePrimitives() {
  const cases = [];
  const a = await fresh('dh');
  const c = await fresh('dh');
  for (const [own, peer] of [[a, c], [c, a]]) {
    cases.push({ op: 'ecdh', input: { priv_pkcs8: b64(own.pkcs8), peer_pub: b64(peer.pub) },
      output: { shared: b64(await e2e.ecdh(own.priv, peer.pub)) } });
  }
  for (const [ikm, salt, info, length] of [[e2e.randomBytes(32), e2e.randomBytes(32), enc.encode('cc1 chat t2c'), 32],
    [e2e.randomBytes(22), new Uint8Array(0), e2e.randomBytes(5), 80]]) {
    cases.push({ op: 'hkdf', input: { ikm: b64(ikm), salt: b64(salt), info: b64(info), length },
      output: { okm: b64(await e2e.hkdf(ikm, salt, info, length)) } });
  }
  const s = await fresh('sig');
  for (const message of [new Uint8Array(0), enc.encode('cc1 signed in the browser'), e2e.randomBytes(1000)]) {
    const sig = await e2e.sign(s.priv, message);
    cases.push({ op: 'verify', input: { pub: b64(s.pub), message: b64(message), sig: b64(sig) }, output: { valid: true } });
  }
  const bad = await e2e.sign(s.priv, enc.encode('x'));
  bad[40] ^= 1;
  cases.push({ op: 'verify', input: { pub: b64(s.pub), message: b64(enc.encode('x')), sig: b64(bad) }, output: { valid: false } });
  const compressed = Uint8Array.of(2 + (s.pub[64] & 1), ...s.pub.subarray(1, 33));
  const offCurve = s.pub.slice();
  offCurve[64] ^= 1;
  for (const badKey of [compressed, s.pub.subarray(0, 64), offCurve, new Uint8Array(65).fill(4)]) {
    cases.push({ op: 'public_key_fails', input: { pub: b64(badKey) }, output: { reason: 'bad_key' } });
  }
  return cases;
}

async function produceConversation() {
  const cases = [];
  const cid = randomCid();
  const epoch = 20261127;
  const C = await fresh('dh');
  const T = await fresh('dh');
  const E = await fresh('dh');
  const q = await e2e.queueKeys(C.priv, T.pub, TEAM, epoch, cid, C.pub);
  for (const [own, peer] of [[C, T], [T, C]]) {
    cases.push({ op: 'queue_keys', input: { own_pkcs8: b64(own.pkcs8), peer_pub: b64(peer.pub), team: TEAM, epoch, cid, c_pub: b64(C.pub) },
      output: { c2t: b64(q.c2t), t2c: b64(q.t2c) } });
  }
  const queued = [];
  const texts = ['hallo, ist da jemand?', 'ich weiß nicht weiter 🙁', '', 'x'.repeat(4094)];
  for (const [n, text] of texts.entries()) {
    const nonce = e2e.randomBytes();
    const m = { key: q.c2t, cid, dir: 'c2t', gen: 0, n, kind: 'msg', id: `c${n}`, text: enc.encode(text), ack: 0, nonce };
    const body = await e2e.encryptMessage(m);
    queued.push(body);
    cases.push({ op: 'message', input: { ...m, key: b64(m.key), text: b64(m.text), nonce: b64(nonce) }, output: { body: b64(body) } });
  }
  const long = { key: q.t2c, cid, dir: 't2c', gen: 3, n: 2 ** 20 - 1, kind: 'close', id: 't-last', text: enc.encode('y'.repeat(9000)), ack: 2 ** 20, nonce: e2e.randomBytes() };
  cases.push({ op: 'message', input: { ...long, key: b64(long.key), text: b64(long.text), nonce: b64(long.nonce) },
    output: { body: b64(await e2e.encryptMessage(long)) } });
  const base = { key: b64(q.c2t), cid, dir: 'c2t', gen: 0, n: 0, kind: 'msg', id: 'c0', body: b64(queued[0]) };
  const flipped = queued[0].slice();
  flipped[30] ^= 1;
  for (const [name, change] of [['other conversation', { cid: randomCid() }], ['reflected', { dir: 't2c' }],
    ['other generation', { gen: 1 }], ['reordered', { n: 1 }], ['other kind', { kind: 'receipt' }],
    ['other id', { id: 'c1' }], ['flipped byte', { body: b64(flipped) }], ['other key', { key: b64(q.t2c) }]]) {
    cases.push({ op: 'message_fails', name, input: { ...base, ...change }, output: { reason: 'decrypt_failed' } });
  }
  const bundleHash = await e2e.bundleHash({ team: TEAM, epoch, tPub: T.pub, notBefore: 1, notAfter: 2 });
  const nSeen = 3;
  const qh = await e2e.queueHash(queued.slice(0, nSeen));
  const tr = await e2e.transcript({ team: TEAM, epoch, bundleHash, cid, cPub: C.pub, ePub: E.pub, nSeen, queueHash: qh });
  cases.push({ op: 'transcript', input: { team: TEAM, epoch, bundle_hash: b64(bundleHash), cid, c_pub: b64(C.pub), e_pub: b64(E.pub),
    n_seen: nSeen, queue_bodies: queued.slice(0, nSeen).map(b64) }, output: { queue_hash: b64(qh), transcript: b64(tr) } });
  const nonce = e2e.randomBytes();
  const accept = await e2e.makeAccept({ kQT2c: q.t2c, team: TEAM, epoch, cid, cPub: C.pub, ePub: E.pub, nSeen, transcript: tr, nonce });
  cases.push({ op: 'accept', input: { k_q_t2c: b64(q.t2c), team: TEAM, epoch, cid, c_pub: b64(C.pub), e_pub: b64(E.pub),
    n_seen: nSeen, transcript: b64(tr), nonce: b64(nonce) }, output: { body: b64(accept) } });
  const e1 = await e2e.ecdh(C.priv, E.pub);
  const e2 = await e2e.ecdh(C.priv, T.pub);
  const keys = await e2e.chatKeys(e1, e2, tr);
  cases.push({ op: 'chat_keys', input: { ecdh1: b64(e1), ecdh2: b64(e2), transcript: b64(tr) }, output: { c2t: b64(keys.c2t), t2c: b64(keys.t2c) } });
  for (const [tag, gen, sent, received] of [['cc1 close', 1, 9, 0], ['cc1 rekey ack', 4, 2, 3]]) {
    cases.push({ op: 'counts', input: { tag, gen, sent, received }, output: { text: b64(e2e.countsText(tag, gen, sent, received)) } });
  }
  const E2 = await fresh('dh');
  const rk = { gen: 1, sent: 6, received: 2, epoch: epoch + 1, ePub: E2.pub };
  const rkText = await e2e.rekeyText(rk);
  cases.push({ op: 'rekey', input: { gen: 1, sent: 6, received: 2, epoch: epoch + 1, e_pub: b64(E2.pub) }, output: { text: b64(rkText) } });
  const wrongTag = e2e.seq('cc1 rekeys', e2e.u64(1), e2e.u64(6), e2e.u64(2), e2e.u64(epoch), E2.pub);
  cases.push({ op: 'rekey_fails', name: 'other tag', input: { text: b64(wrongTag) }, output: { reason: 'malformed' } });
  const offCurve = E2.pub.slice();
  offCurve[64] ^= 1;
  const badPoint = e2e.seq('cc1 rekey', e2e.u64(1), e2e.u64(6), e2e.u64(2), e2e.u64(epoch), offCurve);
  cases.push({ op: 'rekey_fails', name: 'off the curve', input: { text: b64(badPoint) }, output: { reason: 'bad_key' } });
  const holdKeys = [{ gen: 0, c2t: q.c2t, t2c: q.t2c }, { gen: 1, c2t: keys.c2t, t2c: keys.t2c }];
  const holdNotes = [enc.encode('Notiz: Rückruf vereinbart'), enc.encode('🙂')];
  cases.push({ op: 'hold', input: { cid, keys: holdKeys.map((k) => ({ gen: k.gen, c2t: b64(k.c2t), t2c: b64(k.t2c) })),
    notes: holdNotes.map(b64) }, output: { payload: b64(e2e.holdPayload(cid, holdKeys, holdNotes)) } });
  cases.push({ op: 'hold_fails', name: 'other conversation', input: { cid: randomCid(), payload: b64(e2e.holdPayload(cid, holdKeys, [])) },
    output: { reason: 'malformed' } });
  const bh2 = await e2e.bundleHash({ team: TEAM, epoch: epoch + 1, tPub: T.pub, notBefore: 3, notAfter: 4 });
  const chained = await e2e.rekeyTranscript({ previous: tr, gen: 2, team: TEAM, epoch: epoch + 1, bundleHash: bh2, ePub: E2.pub, sent: 6, received: 2 });
  cases.push({ op: 'rekey_transcript', input: { previous: b64(tr), gen: 2, team: TEAM, epoch: epoch + 1, bundle_hash: b64(bh2),
    e_pub: b64(E2.pub), sent: 6, received: 2 }, output: { transcript: b64(chained) } });
  return cases;
}

async function produceBundle() {
  const R = await fresh('sig');
  const other = await fresh('sig');
  const T = await fresh('dh');
  const day = 86_400_000;
  const nb = 1_795_100_000_000;
  const epoch = 20261127;
  const fields = { team: TEAM, epoch, tPub: T.pub, notBefore: nb, notAfter: nb + day };
  const cases = [{ op: 'bundle_bytes', input: { team: TEAM, epoch, t_pub: b64(T.pub), not_before: nb, not_after: nb + day },
    output: { bytes: b64(e2e.bundleBytes(fields)), hash: b64(await e2e.bundleHash(fields)) } }];
  const wire = await e2e.signBundle(R.priv, R.pub, fields);
  const good = { pin: await e2e.pin(R.pub), team: TEAM, now: nb + 1000, min_epoch: epoch };
  const check = (name, bundle, reason, ctx = {}) => cases.push({ op: 'check_bundle', name, input: { bundle, ...good, ...ctx },
    output: reason ? { reason } : { ok: true } });
  check('valid', wire, null);
  check('valid without pin', wire, null, { pin: null });
  check('valid at the two-day limit', await e2e.signBundle(R.priv, R.pub, { ...fields, notAfter: nb + 2 * day }), null);
  check('other suite', { ...wire, suite: 'cc2' }, 'unsupported_suite');
  check('bad key', { ...wire, r_pub: b64(R.pub.subarray(0, 64)) }, 'bad_key');
  check('wrong pin', wire, 'pin_mismatch', { pin: await e2e.pin(other.pub) });
  check('substituted root key', await e2e.signBundle(other.priv, other.pub, fields), 'pin_mismatch');
  check('changed epoch', { ...wire, epoch: epoch + 1 }, 'bad_signature', { min_epoch: 0 });
  check('changed validity', { ...wire, not_before: nb - 1 }, 'bad_signature');
  check("another team's bundle", await e2e.signBundle(R.priv, R.pub, { ...fields, team: 'other-team' }), 'wrong_team');
  check('not yet valid', wire, 'not_yet_valid', { now: nb - 1 });
  check('expired', wire, 'expired', { now: nb + day });
  check('window too long', await e2e.signBundle(R.priv, R.pub, { ...fields, notAfter: nb + 2 * day + 1 }), 'window_too_long');
  check('rolled back', wire, 'epoch_rollback', { min_epoch: epoch + 1 });
  return cases;
}

async function produceEnvelope() {
  const cases = [];
  const A = await fresh('sig');
  const Mallory = await fresh('sig');
  const T = await fresh('dh');
  const M = await fresh('dh');
  const E = await fresh('dh');
  const cid = randomCid();
  const epoch = 20261127;
  for (const [purpose, conversation, payload, recipient] of [['conv_key', cid, E.pkcs8, T], ['team_key', '', T.pkcs8, M],
    ['note', cid, enc.encode('Notiz: Rückruf morgen'), T], ['handover', cid, enc.encode('Übergabe'), M]]) {
    const X = await fresh('dh');
    const nonce = e2e.randomBytes();
    const envelope = await e2e.sealEnvelope({ authorPriv: A.priv, authorPub: A.pub, recipientPub: recipient.pub, purpose,
      conversation, epoch, payload, ephemeral: X.priv, nonce });
    const parsed = await e2e.parseEnvelope(envelope);
    cases.push({ op: 'envelope', input: { author_pkcs8: b64(A.pkcs8), author_pub: b64(A.pub), recipient_pkcs8: b64(recipient.pkcs8),
      recipient_pub: b64(recipient.pub), purpose, conversation, epoch, payload: b64(payload), ephemeral_pkcs8: b64(X.pkcs8), nonce: b64(nonce) },
    output: { header: b64(parsed.header), ct: b64(parsed.ct), envelope: b64(envelope) } });
  }
  const note = { authorPriv: A.priv, authorPub: A.pub, recipientPub: T.pub, purpose: 'note', conversation: cid, epoch, payload: enc.encode('note') };
  const honest = await e2e.sealEnvelope(note);
  const forged = await e2e.sealEnvelope({ ...note, authorPriv: Mallory.priv, authorPub: Mallory.pub, payload: enc.encode('forged') });
  const lying = await e2e.sealEnvelope({ ...note, authorPriv: Mallory.priv });
  const parsed = await e2e.parseEnvelope(honest);
  const badSig = parsed.sig.slice();
  badSig[3] ^= 1;
  const changedCt = parsed.ct.slice();
  changedCt[parsed.ct.length - 1] ^= 1;
  for (const [name, envelope, recipient, author, reason] of [
    ['forged by a non-member', forged, T, A, 'bad_signature'],
    ['signed by another key under the author kid', lying, T, A, 'bad_signature'],
    ['flipped signature bit', e2e.seq(parsed.header, parsed.ct, badSig), T, A, 'bad_signature'],
    ['changed ciphertext', e2e.seq(parsed.header, changedCt, parsed.sig), T, A, 'bad_signature'],
    ['for another recipient', honest, M, A, 'decrypt_failed'],
    ['author not the signer', honest, T, Mallory, 'bad_signature'],
  ]) {
    cases.push({ op: 'envelope_fails', name, input: { recipient_pkcs8: b64(recipient.pkcs8), recipient_pub: b64(recipient.pub),
      author_pub: b64(author.pub), envelope: b64(envelope) }, output: { reason } });
  }
  return cases;
}

async function producePassword() {
  const cases = [];
  for (const [password, username, secret] of [['correct horse battery staple', 'Anna', new Uint8Array(0)],
    ['Pässwört \uFB01 ①', '  Jörg.Müller ', e2e.randomBytes(16)],
    ['\u00A0pw\u3000', '\u0085\u001c ＺOË\u2003\ufeff', e2e.randomBytes(16)]]) {
    const m = await e2e.deriveMaster(password, ORIGIN, username);
    cases.push({ op: 'password', input: { password, salt: ORIGIN, username, secret: b64(secret) },
      output: { master: b64(m), auth: await e2e.authCredential(m, secret), wrap: b64(await e2e.wrapKey(m, secret)) } });
  }
  const wrap = e2e.randomBytes(32);
  const dh = await fresh('dh');
  const sig = await fresh('sig');
  const nonce = e2e.randomBytes();
  const wrapped = await e2e.wrapIdentity({ wrap, salt: ORIGIN, username: 'anna', dhPriv: dh.priv, sigPriv: sig.priv, nonce });
  cases.push({ op: 'identity', input: { wrap: b64(wrap), salt: ORIGIN, username: 'anna', dh_pkcs8: b64(dh.pkcs8), sig_pkcs8: b64(sig.pkcs8),
    dh_pub: b64(dh.pub), sig_pub: b64(sig.pub), nonce: b64(nonce) }, output: { wrapped: b64(wrapped) } });
  return cases;
}

async function produceRoster() {
  const R = await fresh('sig');
  const other = await fresh('sig');
  const issued = 1_795_000_000_000;
  const version = 12;
  const people = [];
  // Given out of order; ids beyond U+FFFF sort differently by UTF-16 unit and by code point.
  for (const [id, role, since] of [['s2b', 'supervisor', issued - 5], ['s1a', 'counsellor', issued - 9],
    ['s10', 'admin', issued - 20], ['\u{1F600}', 'counsellor', issued - 1], ['\uFF21', 'counsellor', issued - 2]]) {
    const dh = await fresh('dh');
    const sig = await fresh('sig');
    people.push({ id, role, dhPub: dh.pub, sigPub: sig.pub, since });
  }
  const asJson = (m) => ({ id: m.id, role: m.role, dh_pub: b64(m.dhPub), sig_pub: b64(m.sigPub), since: m.since });
  const fields = { team: TEAM, version, issuedAt: issued, members: people };
  const cases = [
    { op: 'roster_bytes', input: { team: TEAM, version, issued_at: issued, members: people.map(asJson) },
      output: { bytes: b64(e2e.rosterBytes(fields)) } },
    { op: 'roster_bytes', name: 'no members', input: { team: TEAM, version: 0, issued_at: 0, members: [] },
      output: { bytes: b64(e2e.rosterBytes({ team: TEAM, version: 0, issuedAt: 0, members: [] })) } },
  ];
  const wire = await e2e.signRoster(R.priv, R.pub, fields);
  const good = { pin: await e2e.pin(R.pub), team: TEAM, min_version: version };
  const check = (name, roster, reason, ctx = {}) => cases.push({ op: 'check_roster', name, input: { roster, ...good, ...ctx },
    output: reason ? { reason } : { ok: true } });
  const withMember = (index, change) => ({ ...wire, members: wire.members.map((m, k) => (k === index ? { ...m, ...change } : m)) });
  const intruder = { id: 's9z', role: 'admin', dh_pub: b64((await fresh('dh')).pub), sig_pub: b64((await fresh('sig')).pub), since: issued };
  const zeros = b64(new Uint8Array(65));
  check('valid', wire, null);
  check('valid without pin', wire, null, { pin: null });
  check('valid, never seen one', wire, null, { min_version: 0 });
  check('valid with the members in another order', { ...wire, members: [...wire.members].reverse() }, null);
  check('valid and empty', await e2e.signRoster(R.priv, R.pub, { ...fields, members: [] }), null);
  check('another root key without pin (the safety number must be compared)',
    await e2e.signRoster(other.priv, other.pub, fields), null, { pin: null });
  check('other suite', { ...wire, suite: 'cc2' }, 'unsupported_suite');
  check('no suite, bad key too', without(withMember(0, { dh_pub: zeros }), 'suite'), 'unsupported_suite');
  check('no signature', without(wire, 'sig'), 'malformed');
  check('members not a list', { ...wire, members: null }, 'malformed');
  check('member key not base64', withMember(1, { dh_pub: 'not base64!' }), 'malformed');
  check('member without since', { ...wire, members: wire.members.map((m, k) => (k === 1 ? without(m, 'since') : m)) }, 'malformed');
  check('root key of 64 bytes', { ...wire, r_pub: b64(R.pub.subarray(0, 64)) }, 'bad_key');
  check('member DH key off the curve', withMember(2, { dh_pub: b64(Uint8Array.of(...R.pub.subarray(0, 64), R.pub[64] ^ 1)) }), 'bad_key');
  check('member signing key of zeros', withMember(0, { sig_pub: zeros }), 'bad_key');
  check('bad key before unknown role', withMember(1, { sig_pub: zeros, role: 'root' }), 'bad_key');
  check('bad key before wrong pin', withMember(0, { sig_pub: zeros }), 'bad_key', { pin: await e2e.pin(other.pub) });
  check('unknown role', withMember(3, { role: 'owner' }), 'malformed');
  check('unknown role before wrong pin', withMember(3, { role: 'Admin' }), 'malformed', { pin: await e2e.pin(other.pub) });
  check('a member twice', { ...wire, members: [...wire.members, { ...wire.members[1], role: 'admin' }] }, 'malformed');
  check('wrong pin', wire, 'pin_mismatch', { pin: await e2e.pin(other.pub) });
  check('substituted root key', await e2e.signRoster(other.priv, other.pub, fields), 'pin_mismatch');
  check('substituted root key, old signature', { ...wire, r_pub: b64(other.pub) }, 'bad_signature', { pin: null });
  check('substituted member DH key', withMember(0, { dh_pub: intruder.dh_pub }), 'bad_signature');
  check('substituted member signing key', withMember(4, { sig_pub: intruder.sig_pub }), 'bad_signature');
  check('member added by the server', { ...wire, members: [...wire.members, intruder] }, 'bad_signature');
  check('member removed by the server', { ...wire, members: wire.members.slice(1) }, 'bad_signature');
  check('role raised', withMember(wire.members.findIndex((m) => m.role === 'counsellor'), { role: 'admin' }), 'bad_signature');
  check('since changed', withMember(2, { since: issued }), 'bad_signature');
  check('id changed', withMember(2, { id: 's11' }), 'bad_signature');
  check('version raised', { ...wire, version: version + 1 }, 'bad_signature');
  check('issued_at changed', { ...wire, issued_at: issued + 1 }, 'bad_signature');
  check('team changed', { ...wire, team: 'other-team' }, 'bad_signature', { team: 'other-team' });
  check('flipped signature bit', { ...wire, sig: b64(b(wire.sig).map((x, k) => (k === 5 ? x ^ 1 : x))) }, 'bad_signature');
  check('signature before team and version', { ...wire, sig: b64(new Uint8Array(64)) }, 'bad_signature',
    { team: 'other-team', min_version: version + 1 });
  check("another team's roster", await e2e.signRoster(R.priv, R.pub, { ...fields, team: 'other-team' }), 'wrong_team');
  check('team before version', wire, 'wrong_team', { team: 'other-team', min_version: version + 1 });
  check('rolled back', wire, 'roster_rollback', { min_version: version + 1 });
  check('an older signed roster', await e2e.signRoster(R.priv, R.pub, { ...fields, version: version - 1 }), 'roster_rollback');

  const secret = e2e.randomBytes(e2e.ENROL_SECRET_BYTES);
  const dh = await fresh('dh');
  const sig = await fresh('sig');
  const evil = await fresh('dh');
  const evilSig = await fresh('sig');
  const inviteId = `inv_${e2e.b64url(e2e.randomBytes(6))}`;
  const enrol = { team: TEAM, inviteId, username: '\u0085 \uFF2Eina.K\u3000', dhPub: dh.pub, sigPub: sig.pub };
  const mac = await e2e.enrolMac(secret, enrol);
  const input = { secret: b64(secret), team: TEAM, invite_id: inviteId, username: enrol.username, dh_pub: b64(dh.pub), sig_pub: b64(sig.pub) };
  cases.push({ op: 'enrol_mac', input, output: { mac: b64(mac) } });
  cases.push({ op: 'enrol_mac', name: 'the same username normalised', input: { ...input, username: 'nina.k' }, output: { mac: b64(mac) } });
  const plain = { ...enrol, username: 'anna', inviteId: 'inv_1' };
  cases.push({ op: 'enrol_mac', input: { ...input, username: 'anna', invite_id: 'inv_1' }, output: { mac: b64(await e2e.enrolMac(secret, plain)) } });
  const fails = (name, change, reason) => cases.push({ op: 'enrol_mac_fails', name, input: { ...input, mac: b64(mac), ...change }, output: { reason } });
  fails('substituted DH key', { dh_pub: b64(evil.pub) }, 'bad_signature');
  fails('substituted signing key', { sig_pub: b64(evilSig.pub) }, 'bad_signature');
  fails('keys swapped', { dh_pub: b64(sig.pub), sig_pub: b64(dh.pub) }, 'bad_signature');
  fails('another username', { username: 'nina.k2' }, 'bad_signature');
  fails('another invite', { invite_id: `${inviteId}x` }, 'bad_signature');
  fails('another team', { team: 'other-team' }, 'bad_signature');
  fails('another secret', { secret: b64(e2e.randomBytes(e2e.ENROL_SECRET_BYTES)) }, 'bad_signature');
  fails('a MAC made by the server with its own secret', { dh_pub: b64(evil.pub),
    mac: b64(await e2e.enrolMac(e2e.randomBytes(32), { ...enrol, dhPub: evil.pub })) }, 'bad_signature');
  fails('truncated MAC', { mac: b64(mac.subarray(0, 31)) }, 'bad_signature');
  fails('flipped MAC bit', { mac: b64(mac.map((x, k) => (k === 31 ? x ^ 0x80 : x))) }, 'bad_signature');
  fails('DH key not a point', { dh_pub: zeros }, 'bad_key');
  fails('signing key compressed', { sig_pub: b64(Uint8Array.of(2 + (sig.pub[64] & 1), ...sig.pub.subarray(1, 33))) }, 'bad_key');
  return cases;
}

const PRODUCERS = { encoding: produceEncoding, primitives: producePrimitives, conversation: produceConversation,
  bundle: produceBundle, envelope: produceEnvelope, password: producePassword, roster: produceRoster };

/**
 * Cases made by this implementation, in the vector format (see tests/js/README.md).
 * @returns {Promise<{suite: 'cc1', producer: string, files: Object<string, object>}>}
 */
export async function produce(producer = 'widget/shared/e2e.js') {
  const files = {};
  for (const [name, make] of Object.entries(PRODUCERS)) files[name] = { suite: 'cc1', file: name, cases: await make() };
  return { suite: 'cc1', producer, files };
}

/**
 * Checks the given vector files, then makes this side's cases (and checks them here too,
 * so the output is known to follow the format).
 * @param {Object<string, object>} vectorsByName parsed tests/vectors/e2e/*.json by file name
 * @returns {Promise<{passed: number, failed: number, failures: object[], produced: object}>}
 */
export async function runVectors(vectorsByName, producer) {
  const theirs = await checkFiles(vectorsByName);
  const produced = await produce(producer);
  const ours = await checkFiles(produced.files);
  const failures = [...theirs.failures, ...ours.failures.map((f) => ({ ...f, file: `produced/${f.file}` }))];
  return { passed: theirs.passed + ours.passed, failed: failures.length, failures, produced };
}

// ---------------------------------------------------------------------------
// Node entry point

const isMain = typeof process !== 'undefined' && process.argv && process.argv[1]
  && import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href;

if (isMain) {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const source = process.argv[2] || fileURLToPath(new URL('../vectors/e2e/', import.meta.url));
  const names = fs.statSync(source).isDirectory()
    ? fs.readdirSync(source).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(source, f))
    : [source];
  const vectors = {};
  for (const file of names) vectors[path.basename(file, '.json')] = JSON.parse(fs.readFileSync(file, 'utf-8'));
  const engine = typeof globalThis.Bun !== 'undefined' ? `Bun ${globalThis.Bun.version}`
    : typeof globalThis.Deno !== 'undefined' ? `Deno ${globalThis.Deno.version.deno}` : `Node ${process.version}`;
  const result = await runVectors(vectors, `widget/shared/e2e.js on ${engine}`);
  for (const f of result.failures) {
    console.log(`FAIL ${f.file}#${f.index} ${f.op}${f.name ? ` (${f.name})` : ''}: ${f.error}`);
  }
  if (process.argv[3]) {
    fs.writeFileSync(process.argv[3], JSON.stringify(result.produced, null, 1) + '\n');
    const count = Object.values(result.produced.files).reduce((sum, f) => sum + f.cases.length, 0);
    console.log(`wrote ${count} cases to ${process.argv[3]}`);
  }
  console.log(`${result.passed} passed, ${result.failed} failed`);
  process.exitCode = result.failed === 0 ? 0 : 1;
}
