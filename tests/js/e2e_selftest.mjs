// Round-trip self-test of widget/shared/e2e.js on Node's WebCrypto.
// Run: node tests/js/e2e_selftest.mjs   (exit 0 when all pass; last line "N passed, M failed")

import * as e2e from '../../widget/shared/e2e.js';

const { E2EError } = e2e;
const enc = new TextEncoder();
const tests = [];
const test = (name, fn) => tests.push({ name, fn });

function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}
function eq(a, b, what) {
  const same = a instanceof Uint8Array ? b instanceof Uint8Array && e2e.equalBytes(a, b) : a === b;
  if (!same) throw new Error(`${what}: ${fmt(a)} !== ${fmt(b)}`);
}
function fmt(x) {
  return x instanceof Uint8Array ? `<${x.length} bytes ${hex(x).slice(0, 40)}…>` : JSON.stringify(x);
}
function hex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
async function rejects(reason, fn) {
  try {
    await fn();
  } catch (err) {
    if (err instanceof E2EError && err.reason === reason) return;
    throw new Error(`expected E2EError(${reason}), got ${err && (err.reason || err.name)}: ${err && err.message}`);
  }
  throw new Error(`expected E2EError(${reason}), nothing thrown`);
}

// ---------------------------------------------------------------------------
// Encodings

test('u64 is big-endian and exact up to 2^53 - 1 and for BigInt up to 2^64 - 1', async () => {
  eq(hex(e2e.u64(0)), '0000000000000000', 'u64(0)');
  eq(hex(e2e.u64(258)), '0000000000000102', 'u64(258)');
  eq(hex(e2e.u64(2 ** 53 - 1)), '001fffffffffffff', 'u64(2^53-1)');
  eq(hex(e2e.u64(2n ** 64n - 1n)), 'ffffffffffffffff', 'u64(2^64-1)');
  eq(e2e.readU64(e2e.u64(2 ** 53 - 1)), 2 ** 53 - 1, 'readU64');
  await rejects('malformed', () => e2e.u64(-1));
  await rejects('malformed', () => e2e.u64(2 ** 53));
  await rejects('malformed', () => e2e.u64(1.5));
  await rejects('malformed', () => e2e.u64(2n ** 64n));
});

test('seq length-prefixes strings as UTF-8, integers as u64 and bytes as is', async () => {
  const s = e2e.seq('é', 1, Uint8Array.of(9), new Uint8Array(0));
  eq(hex(s), '00000002c3a9' + '00000008' + '0000000000000001' + '0000000109' + '00000000', 'seq');
  eq(hex(e2e.lp(Uint8Array.of(1, 2))), '000000020102', 'lp');
  const [a, b, c, d] = e2e.unseq(s, 4);
  eq(a, enc.encode('é'), 'unseq 0');
  eq(b, e2e.u64(1), 'unseq 1');
  eq(c, Uint8Array.of(9), 'unseq 2');
  eq(d.length, 0, 'unseq 3');
  await rejects('malformed', () => e2e.unseq(s, 3));
  await rejects('malformed', () => e2e.unseq(s, 5));
  await rejects('malformed', () => e2e.unseq(Uint8Array.of(0, 0, 0, 5, 1), 1));
});

test('pad uses 256-byte buckets up to 4096, then powers of two', async () => {
  const cases = [[0, 256], [1, 256], [255, 256], [256, 512], [4095, 4096], [4096, 8192], [5000, 8192],
    [8191, 8192], [8192, 16384]];
  for (const [size, want] of cases) {
    const data = new Uint8Array(size).fill(0x41);
    const padded = e2e.pad(data);
    eq(padded.length, want, `pad(${size}).length`);
    eq(padded[size], 0x80, `marker at ${size}`);
    assert(padded.subarray(size + 1).every((b) => b === 0), `zeros after ${size}`);
    eq(e2e.unpad(padded), data, `unpad(pad(${size}))`);
  }
});

test('unpad keeps trailing 0x80 and zero bytes of the content', async () => {
  for (const data of [Uint8Array.of(0), Uint8Array.of(0x80), Uint8Array.of(1, 0, 0), Uint8Array.of(0x80, 0)]) {
    eq(e2e.unpad(e2e.pad(data)), data, `round trip ${hex(data)}`);
  }
});

test('unpad refuses an empty input, only zeros, or a last non-zero byte other than 0x80', async () => {
  await rejects('bad_padding', () => e2e.unpad(new Uint8Array(0)));
  await rejects('bad_padding', () => e2e.unpad(new Uint8Array(256)));
  await rejects('bad_padding', () => e2e.unpad(Uint8Array.of(1, 0x81, 0, 0)));
  await rejects('bad_padding', () => e2e.unpad(Uint8Array.of(1, 2, 3)));
});

test('base64 is standard with padding and strict; b64url has no padding', async () => {
  const data = Uint8Array.of(0xfb, 0xff, 0xfe, 0x01);
  eq(e2e.b64encode(data), '+//+AQ==', 'b64encode');
  eq(e2e.b64decode('+//+AQ=='), data, 'b64decode');
  eq(e2e.b64url(data), '-__-AQ', 'b64url');
  eq(e2e.b64decode(''), new Uint8Array(0), 'empty');
  const big = Uint8Array.from({ length: 100000 }, (_, i) => (i * 7919) & 255);
  eq(e2e.b64decode(e2e.b64encode(big)), big, 'large round trip');
  for (const bad of ['+//+AQ', '-__-AQ==', 'AQ=A', 'A Q==', 'AQ===', 5]) {
    await rejects('malformed', () => e2e.b64decode(bad));
  }
});

test('kid is the first 16 bytes of H(seq("cc1 kid", pub))', async () => {
  const pub = await e2e.publicBytes(await e2e.generateEcdh());
  const want = (await e2e.sha256(e2e.seq('cc1 kid', pub))).slice(0, 16);
  eq(await e2e.kid(pub), want, 'kid');
  eq((await e2e.kid(pub)).length, 16, 'kid length');
});

test('sha256 of "abc" is the FIPS 180-2 value', async () => {
  eq(hex(await e2e.sha256(enc.encode('abc'))),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'sha256');
});

test('hkdf matches RFC 5869 test case 1 and treats an empty salt as the zero salt', async () => {
  const ikm = new Uint8Array(22).fill(0x0b);
  const salt = Uint8Array.from({ length: 13 }, (_, i) => i);
  const info = Uint8Array.from({ length: 10 }, (_, i) => 0xf0 + i);
  eq(hex(await e2e.hkdf(ikm, salt, info, 42)),
    '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865', 'RFC 5869 A.1');
  eq(await e2e.hkdf(ikm, new Uint8Array(0), 'x'), await e2e.hkdf(ikm, new Uint8Array(32), 'x'), 'zero salt');
  // RFC 5869 A.3: no salt, no info
  eq(hex(await e2e.hkdf(ikm, new Uint8Array(0), new Uint8Array(0), 42)),
    '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8', 'RFC 5869 A.3');
});

test('pbkdf2 refuses any iteration count but 600 000 and is deterministic', async () => {
  await rejects('bad_parameter', () => e2e.pbkdf2('pw', new Uint8Array(32), 1000));
  const salt = e2e.randomBytes(32);
  eq(await e2e.pbkdf2('pw', salt), await e2e.pbkdf2(enc.encode('pw'), salt), 'string = UTF-8 bytes');
});

// ---------------------------------------------------------------------------
// Keys and primitives

test('public keys: 65-byte uncompressed points only', async () => {
  const pair = await e2e.generateEcdh();
  const pub = await e2e.publicBytes(pair);
  eq(pub.length, 65, 'length');
  eq(pub[0], 4, 'prefix');
  eq(await e2e.publicBytes(pair.privateKey), pub, 'public half of the private key');
  await e2e.importPublicEcdh(pub);
  await e2e.importPublicEcdsa(pub);
  await rejects('bad_key', () => e2e.importPublicEcdh(pub.slice(0, 33)));
  const compressed = Uint8Array.of(2 + (pub[64] & 1), ...pub.subarray(1, 33));
  await rejects('bad_key', () => e2e.importPublicEcdh(compressed));
  const off = pub.slice();
  off[64] ^= 1; // no longer on the curve
  await rejects('bad_key', () => e2e.importPublicEcdh(off));
  await rejects('bad_key', () => e2e.importPublicEcdsa(new Uint8Array(65).fill(4)));
  const wrongPrefix = pub.slice();
  wrongPrefix[0] = 3;
  await rejects('bad_key', () => e2e.importPublicEcdsa(wrongPrefix));
});

test('PKCS#8 export and import keep the key; garbage is bad_key', async () => {
  const dh = await e2e.generateEcdh();
  const sig = await e2e.generateEcdsa();
  const dh2 = await e2e.importPrivateEcdh(await e2e.exportPkcs8(dh));
  const sig2 = await e2e.importPrivateEcdsa(await e2e.exportPkcs8(sig.privateKey));
  eq(await e2e.publicBytes(dh2), await e2e.publicBytes(dh), 'ECDH public half');
  eq(await e2e.publicBytes(sig2), await e2e.publicBytes(sig), 'ECDSA public half');
  await rejects('bad_key', () => e2e.importPrivateEcdh(Uint8Array.of(1, 2, 3)));
});

test('ecdh agrees both ways and is 32 bytes', async () => {
  const a = await e2e.generateEcdh();
  const b = await e2e.generateEcdh();
  const ab = await e2e.ecdh(a.privateKey, await e2e.publicBytes(b));
  const ba = await e2e.ecdh(b.privateKey, await e2e.publicBytes(a));
  eq(ab, ba, 'shared secret');
  eq(ab.length, 32, 'length');
});

test('seal/open round trip; any change to key, nonce, ciphertext or AD is decrypt_failed', async () => {
  const k = e2e.randomBytes(32);
  const n = e2e.randomBytes(12);
  const ct = await e2e.seal(k, n, enc.encode('hello'), enc.encode('ad'));
  eq(ct.length, 5 + 16, 'ciphertext ‖ tag');
  eq(await e2e.open(k, n, ct, enc.encode('ad')), enc.encode('hello'), 'open');
  await rejects('decrypt_failed', () => e2e.open(e2e.randomBytes(32), n, ct, enc.encode('ad')));
  await rejects('decrypt_failed', () => e2e.open(k, e2e.randomBytes(12), ct, enc.encode('ad')));
  await rejects('decrypt_failed', () => e2e.open(k, n, ct, enc.encode('AD')));
  const flipped = ct.slice();
  flipped[0] ^= 1;
  await rejects('decrypt_failed', () => e2e.open(k, n, flipped, enc.encode('ad')));
  await rejects('decrypt_failed', () => e2e.open(k, n, ct.subarray(0, 15), enc.encode('ad')));
  await rejects('bad_key', () => e2e.seal(new Uint8Array(16), n, ct, enc.encode('ad')));
});

test('sign/verify: raw 64-byte r‖s; other key, message or length fails', async () => {
  const pair = await e2e.generateEcdsa();
  const pub = await e2e.publicBytes(pair);
  const sig = await e2e.sign(pair.privateKey, enc.encode('msg'));
  eq(sig.length, 64, 'signature length');
  assert(await e2e.verify(pub, enc.encode('msg'), sig), 'verifies');
  assert(!(await e2e.verify(pub, enc.encode('msG'), sig)), 'other message');
  assert(!(await e2e.verify(await e2e.publicBytes(await e2e.generateEcdsa()), enc.encode('msg'), sig)), 'other key');
  assert(!(await e2e.verify(pub, enc.encode('msg'), sig.subarray(0, 63))), 'short');
  assert(!(await e2e.verify(pub, enc.encode('msg'), new Uint8Array(64))), 'zero signature');
});

test('pin is b64url(SHA-256(SPKI)) and the safety number six groups of five digits', async () => {
  const pub = await e2e.publicBytes(await e2e.generateEcdsa());
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', await e2e.importPublicEcdsa(pub)));
  eq(spki.length, 91, 'SPKI length');
  eq(await e2e.pin(pub), e2e.b64url(await e2e.sha256(spki)), 'pin');
  eq((await e2e.pin(pub)).length, 43, 'pin length');
  const sn = await e2e.safetyNumber(pub);
  assert(/^\d{5}( \d{5}){5}$/.test(sn), `safety number format ${sn}`);
  const d = await e2e.sha256(e2e.seq('cc1 safety', pub));
  const first = Number(BigInt('0x' + hex(d.subarray(0, 5))) % 100000n);
  eq(sn.slice(0, 5), String(first).padStart(5, '0'), 'first group');
});

// ---------------------------------------------------------------------------
// Conversation: queue, accept, chat

async function conversation() {
  const team = 'youth-line';
  const epoch = 20000;
  const cid = 'AbCdEfGhIjKlMnOpQrStUv';
  const root = await e2e.generateEcdsa();
  const rPub = await e2e.publicBytes(root);
  const teamKey = await e2e.generateEcdh();
  const tPub = await e2e.publicBytes(teamKey);
  const client = await e2e.generateEcdh();
  const cPub = await e2e.publicBytes(client);
  const fields = { team, epoch, tPub, notBefore: 1_700_000_000_000, notAfter: 1_700_086_400_000 };
  const bundle = await e2e.signBundle(root.privateKey, rPub, fields);
  return { team, epoch, cid, root, rPub, teamKey, tPub, client, cPub, fields, bundle };
}

test('queue keys agree between client (C, T_pub) and team (T, C_pub) and differ per direction', async () => {
  const c = await conversation();
  const kc = await e2e.queueKeys(c.client.privateKey, c.tPub, c.team, c.epoch, c.cid, c.cPub);
  const kt = await e2e.queueKeys(c.teamKey.privateKey, c.cPub, c.team, c.epoch, c.cid, c.cPub);
  eq(kc.c2t, kt.c2t, 'c2t');
  eq(kc.t2c, kt.t2c, 't2c');
  assert(!e2e.equalBytes(kc.c2t, kc.t2c), 'directions differ');
  const other = await e2e.queueKeys(c.client.privateKey, c.tPub, c.team, c.epoch + 1, c.cid, c.cPub);
  assert(!e2e.equalBytes(other.c2t, kc.c2t), 'bound to the epoch');
});

test('messages round trip; every AD field, the key and the body are bound', async () => {
  const key = e2e.randomBytes(32);
  const m = { key, cid: 'conv1', dir: 'c2t', gen: 1, n: 7, kind: 'msg', id: 'm-7', text: 'Hallo, ça va? 🙂', ack: 3 };
  const body = await e2e.encryptMessage(m);
  eq(body.length, 12 + 256 + 16, 'one bucket');
  const out = await e2e.decryptMessage({ ...m, body });
  eq(out.text, m.text, 'text');
  eq(out.ack, 3, 'ack');
  const changes = { cid: 'conv2', dir: 't2c', gen: 2, n: 8, kind: 'close', id: 'm-8', key: e2e.randomBytes(32) };
  for (const [field, value] of Object.entries(changes)) {
    await rejects('decrypt_failed', () => e2e.decryptMessage({ ...m, [field]: value, body }));
  }
  const tampered = body.slice();
  tampered[20] ^= 1;
  await rejects('decrypt_failed', () => e2e.decryptMessage({ ...m, body: tampered }));
  await rejects('malformed', () => e2e.decryptMessage({ ...m, body: body.subarray(0, 20) }));
});

test('messages: a fixed nonce is deterministic, the size follows the bucket, limits hold', async () => {
  const key = e2e.randomBytes(32);
  const nonce = e2e.randomBytes(12);
  const m = { key, cid: 'c', dir: 't2c', gen: 0, n: 0, kind: 'msg', id: 'a', text: 'x'.repeat(5000), ack: 0, nonce };
  const b1 = await e2e.encryptMessage(m);
  eq(b1, await e2e.encryptMessage(m), 'deterministic with a nonce');
  eq(b1.subarray(0, 12), nonce, 'nonce first');
  eq(b1.length, 12 + 8192 + 16, 'power-of-two bucket');
  eq((await e2e.decryptMessage({ ...m, body: b1 })).text, m.text, 'long text');
  await rejects('bad_parameter', () => e2e.encryptMessage({ ...m, n: 2 ** 20 }));
  await e2e.encryptMessage({ ...m, n: 2 ** 20 - 1 });
  await rejects('malformed', () => e2e.encryptMessage({ ...m, dir: 'x' }));
  await rejects('malformed', () => e2e.encryptMessage({ ...m, kind: 'note' }));
  const asBytes = await e2e.encryptMessage({ ...m, text: enc.encode(m.text) });
  eq(asBytes, b1, 'text as bytes');
  for (const kind of e2e.KINDS) await e2e.encryptMessage({ ...m, kind });
});

test('a plaintext that is not seq(text, u64(ack)) is malformed', async () => {
  const key = e2e.randomBytes(32);
  const nonce = e2e.randomBytes(12);
  const fields = { cid: 'c', dir: 'c2t', gen: 0, n: 0, kind: 'msg', id: 'a' };
  const ad = e2e.seq('cc1 msg', 'c', 'c2t', e2e.u64(0), e2e.u64(0), 'msg', 'a');
  const seal = async (p) => e2e.concat(nonce, await e2e.seal(key, nonce, e2e.pad(p), ad));
  await rejects('malformed', async () => e2e.decryptMessage({ key, ...fields, body: await seal(e2e.seq('hi')) }));
  await rejects('malformed', async () => e2e.decryptMessage({ key, ...fields, body: await seal(e2e.seq('hi', Uint8Array.of(1))) }));
  await rejects('malformed', async () => e2e.decryptMessage({ key, ...fields, body: await seal(e2e.seq(Uint8Array.of(0xff), 0)) }));
  const noPad = e2e.concat(nonce, await e2e.seal(key, nonce, e2e.seq('hi', 0), ad));
  await rejects('bad_padding', () => e2e.decryptMessage({ key, ...fields, body: noPad }));
});

test('accept: made by the team, opened by the client; chat keys agree on both sides', async () => {
  const c = await conversation();
  const qc = await e2e.queueKeys(c.client.privateKey, c.tPub, c.team, c.epoch, c.cid, c.cPub);
  const queued = [];
  for (let n = 0; n < 3; n++) {
    queued.push(await e2e.encryptMessage({ key: qc.c2t, cid: c.cid, dir: 'c2t', gen: 0, n, kind: 'msg', id: `q${n}`, text: `queued ${n}`, ack: 0 }));
  }
  // The console: opens the queue, makes E, accepts having seen two messages.
  const qt = await e2e.queueKeys(c.teamKey.privateKey, c.cPub, c.team, c.epoch, c.cid, c.cPub);
  eq((await e2e.decryptMessage({ key: qt.c2t, cid: c.cid, dir: 'c2t', gen: 0, n: 1, kind: 'msg', id: 'q1', body: queued[1] })).text, 'queued 1', 'team reads the queue');
  const checked = await e2e.checkBundle(c.bundle, { pin: await e2e.pin(c.rPub), team: c.team, now: c.fields.notBefore });
  eq(checked.bundleHash, await e2e.bundleHash(c.fields), 'bundle hash');
  const eKey = await e2e.generateEcdh();
  const ePub = await e2e.publicBytes(eKey);
  const base = { team: c.team, epoch: c.epoch, bundleHash: checked.bundleHash, cid: c.cid, cPub: c.cPub, ePub };
  const tr = await e2e.transcript({ ...base, nSeen: 2, queueHash: await e2e.queueHash(queued.slice(0, 2)) });
  const body = await e2e.makeAccept({ kQT2c: qt.t2c, team: c.team, epoch: c.epoch, cid: c.cid, cPub: c.cPub, ePub, nSeen: 2, transcript: tr });
  eq(body.length, 65 + 8 + 12 + 256 + 16, 'accept length');
  // The client: opens it and recomputes the transcript from its own queue.
  const acc = await e2e.openAccept({ kQT2c: qc.t2c, team: c.team, epoch: c.epoch, cid: c.cid, cPub: c.cPub, body });
  eq(acc.ePub, ePub, 'E_pub');
  eq(acc.nSeen, 2, 'n_seen');
  eq(acc.transcript, tr, 'transcript');
  const mine = await e2e.transcript({ ...base, ePub: acc.ePub, nSeen: acc.nSeen, queueHash: await e2e.queueHash(queued.slice(0, acc.nSeen)) });
  eq(mine, acc.transcript, 'client recomputes the transcript');
  const kClient = await e2e.chatKeys(await e2e.ecdh(c.client.privateKey, ePub), await e2e.ecdh(c.client.privateKey, c.tPub), tr);
  const kTeam = await e2e.chatKeys(await e2e.ecdh(eKey.privateKey, c.cPub), await e2e.ecdh(c.teamKey.privateKey, c.cPub), tr);
  eq(kClient.c2t, kTeam.c2t, 'chat c2t');
  eq(kClient.t2c, kTeam.t2c, 'chat t2c');
  assert(!e2e.equalBytes(kClient.c2t, qc.c2t), 'chat key is not the queue key');
  const m = { cid: c.cid, dir: 'c2t', gen: 1, n: 0, kind: 'msg', id: 'q2', text: 'queued 2', ack: 1 };
  const resent = await e2e.encryptMessage({ ...m, key: kClient.c2t });
  eq((await e2e.decryptMessage({ ...m, key: kTeam.c2t, body: resent })).text, 'queued 2', 'resent under the chat key');
  // Reflection: a c2t body is refused under the t2c key.
  await rejects('decrypt_failed', () => e2e.decryptMessage({ ...m, key: kTeam.t2c, body: resent }));
});

test('accept: the client refuses a changed E_pub, n_seen, key or context', async () => {
  const c = await conversation();
  const qt = await e2e.queueKeys(c.teamKey.privateKey, c.cPub, c.team, c.epoch, c.cid, c.cPub);
  const ePub = await e2e.publicBytes(await e2e.generateEcdh());
  const tr = e2e.randomBytes(32);
  const a = { kQT2c: qt.t2c, team: c.team, epoch: c.epoch, cid: c.cid, cPub: c.cPub };
  const body = await e2e.makeAccept({ ...a, ePub, nSeen: 0, transcript: tr });
  eq((await e2e.openAccept({ ...a, body })).transcript, tr, 'opens');
  const otherE = await e2e.publicBytes(await e2e.generateEcdh());
  await rejects('decrypt_failed', () => e2e.openAccept({ ...a, body: e2e.concat(otherE, body.subarray(65)) }));
  const moreSeen = body.slice();
  moreSeen[72] = 1;
  await rejects('decrypt_failed', () => e2e.openAccept({ ...a, body: moreSeen }));
  await rejects('decrypt_failed', () => e2e.openAccept({ ...a, kQT2c: qt.c2t, body }));
  await rejects('decrypt_failed', () => e2e.openAccept({ ...a, cid: 'other', body }));
  await rejects('decrypt_failed', () => e2e.openAccept({ ...a, team: 'other', body }));
  await rejects('decrypt_failed', () => e2e.openAccept({ ...a, epoch: c.epoch + 1, body }));
  await rejects('bad_key', () => e2e.openAccept({ ...a, body: e2e.concat(new Uint8Array(65).fill(4), body.subarray(65)) }));
  await rejects('malformed', () => e2e.openAccept({ ...a, body: body.subarray(0, 90) }));
});

// ---------------------------------------------------------------------------
// Bundle

test('bundle: a good bundle passes with and without a pin, on both window edges', async () => {
  const c = await conversation();
  const p = await e2e.pin(c.rPub);
  const ok = await e2e.checkBundle(c.bundle, { pin: p, team: c.team, now: c.fields.notBefore, minEpoch: c.epoch });
  eq(ok.epoch, c.epoch, 'epoch');
  eq(ok.tPub, c.tPub, 'tPub');
  await e2e.checkBundle(c.bundle, { pin: null, team: c.team, now: c.fields.notAfter - 1 });
  eq(e2e.b64decode(c.bundle.sig).length, 64, 'raw signature');
  eq(JSON.stringify(Object.keys(c.bundle)), JSON.stringify(['suite', 'team', 'epoch', 't_pub', 'not_before', 'not_after', 'sig', 'r_pub']), 'wire fields');
  let threw = false;
  try { await e2e.checkBundle(c.bundle, { team: c.team }); } catch (err) { threw = err instanceof TypeError; }
  assert(threw, 'a missing pin option is a programming error');
});

test('bundle: every failure reason', async () => {
  const c = await conversation();
  const p = await e2e.pin(c.rPub);
  const now = c.fields.notBefore + 1000;
  const opts = { pin: p, team: c.team, now, minEpoch: c.epoch };
  const resign = (fields) => e2e.signBundle(c.root.privateKey, c.rPub, { ...c.fields, ...fields });
  await rejects('unsupported_suite', () => e2e.checkBundle({ ...c.bundle, suite: 'cc2' }, opts));
  await rejects('bad_key', () => e2e.checkBundle({ ...c.bundle, t_pub: e2e.b64encode(c.tPub.subarray(0, 64)) }, opts));
  await rejects('bad_key', () => e2e.checkBundle({ ...c.bundle, r_pub: e2e.b64encode(new Uint8Array(65).fill(4)) }, opts));
  await rejects('malformed', () => e2e.checkBundle({ ...c.bundle, t_pub: 'not base64!' }, opts));
  await rejects('malformed', () => e2e.checkBundle({ ...c.bundle, epoch: '1' }, opts));
  // A server substituting its own root key: pin mismatch.
  const evil = await e2e.generateEcdsa();
  const evilPub = await e2e.publicBytes(evil);
  const forged = await e2e.signBundle(evil.privateKey, evilPub, c.fields);
  await rejects('pin_mismatch', () => e2e.checkBundle(forged, opts));
  // Without a pin, the forged bundle verifies (the safety number must be compared).
  await e2e.checkBundle(forged, { ...opts, pin: null });
  assert((await e2e.safetyNumber(evilPub)) !== (await e2e.safetyNumber(c.rPub)), 'safety numbers differ');
  // Changed fields with the old signature.
  await rejects('bad_signature', () => e2e.checkBundle({ ...c.bundle, not_after: c.fields.notAfter + 1 }, opts));
  await rejects('bad_signature', () => e2e.checkBundle({ ...c.bundle, epoch: c.epoch + 1 }, opts));
  await rejects('bad_signature', () => e2e.checkBundle({ ...c.bundle, team: 'other' }, opts));
  await rejects('bad_signature', () => e2e.checkBundle({ ...c.bundle, t_pub: e2e.b64encode(evilPub) }, opts));
  await rejects('bad_signature', () => e2e.checkBundle({ ...c.bundle, sig: e2e.b64encode(new Uint8Array(64)) }, opts));
  await rejects('wrong_team', () => e2e.checkBundle(c.bundle, { ...opts, team: 'other-team' }));
  await rejects('not_yet_valid', () => e2e.checkBundle(c.bundle, { ...opts, now: c.fields.notBefore - 1 }));
  await rejects('expired', () => e2e.checkBundle(c.bundle, { ...opts, now: c.fields.notAfter }));
  const day = 86_400_000;
  await e2e.checkBundle(await resign({ notAfter: c.fields.notBefore + 2 * day }), opts);
  await rejects('window_too_long', async () => e2e.checkBundle(await resign({ notAfter: c.fields.notBefore + 2 * day + 1 }), opts));
  await rejects('epoch_rollback', () => e2e.checkBundle(c.bundle, { ...opts, minEpoch: c.epoch + 1 }));
});

// ---------------------------------------------------------------------------
// Envelopes

async function envelopeParties() {
  const author = await e2e.generateEcdsa();
  const authorPub = await e2e.publicBytes(author);
  const recipient = await e2e.generateEcdh();
  const recipientPub = await e2e.publicBytes(recipient);
  return { author, authorPub, recipient, recipientPub };
}

test('envelope: seal, parse and open a private key and a note', async () => {
  const p = await envelopeParties();
  const conv = await e2e.generateEcdh();
  const pkcs8 = await e2e.exportPkcs8(conv);
  const env = await e2e.sealEnvelope({ authorPriv: p.author.privateKey, authorPub: p.authorPub, recipientPub: p.recipientPub,
    purpose: 'conv_key', conversation: 'AbCdEfGhIjKlMnOpQrStUv', epoch: 20000, payload: pkcs8 });
  const parsed = await e2e.parseEnvelope(env);
  eq(parsed.purpose, 'conv_key', 'purpose');
  eq(parsed.conversation, 'AbCdEfGhIjKlMnOpQrStUv', 'conversation');
  eq(parsed.epoch, 20000, 'epoch');
  eq(parsed.recipientKid, await e2e.kid(p.recipientPub), 'recipient kid');
  eq(parsed.authorKid, await e2e.kid(p.authorPub), 'author kid');
  eq(parsed.sig.length, 64, 'signature');
  const out = await e2e.openEnvelope({ recipientPriv: p.recipient.privateKey, recipientPub: p.recipientPub, envelope: env, authorPub: p.authorPub });
  eq(out.payload, pkcs8, 'payload');
  const key = await e2e.importPrivateEcdh(out.payload);
  eq(await e2e.publicBytes(key), await e2e.publicBytes(conv), 'the key inside matches its public half');
  const note = await e2e.sealEnvelope({ authorPriv: p.author.privateKey, authorPub: p.authorPub, recipientPub: p.recipientPub,
    purpose: 'note', epoch: 3, payload: 'Anruf am Montag' });
  const opened = await e2e.openEnvelope({ recipientPriv: p.recipient.privateKey, recipientPub: p.recipientPub, envelope: note, authorPub: p.authorPub });
  eq(new TextDecoder().decode(opened.payload), 'Anruf am Montag', 'note text');
  eq(opened.conversation, '', 'no conversation');
});

test('envelope: a fixed ephemeral key and nonce make identical bytes but for the signature', async () => {
  const p = await envelopeParties();
  const ephemeral = await e2e.generateEcdh();
  const nonce = e2e.randomBytes(12);
  const args = { authorPriv: p.author.privateKey, authorPub: p.authorPub, recipientPub: p.recipientPub,
    purpose: 'handover', conversation: 'c', epoch: 1, payload: 'text', ephemeral, nonce };
  const a = await e2e.parseEnvelope(await e2e.sealEnvelope(args));
  const b = await e2e.parseEnvelope(await e2e.sealEnvelope({ ...args, ephemeral: ephemeral.privateKey }));
  eq(a.header, b.header, 'header');
  eq(a.ct, b.ct, 'ciphertext');
  eq(a.ephemeralPub, await e2e.publicBytes(ephemeral), 'ephemeral key');
});

test('envelope: forged signature, wrong recipient, wrong author, swapped parts are refused', async () => {
  const p = await envelopeParties();
  const args = { authorPriv: p.author.privateKey, authorPub: p.authorPub, recipientPub: p.recipientPub,
    purpose: 'team_key', epoch: 7, payload: e2e.randomBytes(138) };
  const env = await e2e.sealEnvelope(args);
  const openArgs = { recipientPriv: p.recipient.privateKey, recipientPub: p.recipientPub, envelope: env, authorPub: p.authorPub };
  const parsed = await e2e.parseEnvelope(env);
  // Forged signature: the bytes of another signer, or a bit flipped.
  const mallory = await e2e.generateEcdsa();
  const forgedSig = await e2e.sign(mallory.privateKey, e2e.seq('cc1 envelope sig', parsed.header, parsed.ct));
  await rejects('bad_signature', () => e2e.openEnvelope({ ...openArgs, envelope: e2e.seq(parsed.header, parsed.ct, forgedSig) }));
  const flipped = parsed.sig.slice();
  flipped[10] ^= 1;
  await rejects('bad_signature', () => e2e.openEnvelope({ ...openArgs, envelope: e2e.seq(parsed.header, parsed.ct, flipped) }));
  // Changed ciphertext under the honest signature.
  const ct = parsed.ct.slice();
  ct[20] ^= 1;
  await rejects('bad_signature', () => e2e.openEnvelope({ ...openArgs, envelope: e2e.seq(parsed.header, ct, parsed.sig) }));
  // Mallory signs her own envelope but claims to be the author: the kid names Mallory.
  const byMallory = await e2e.sealEnvelope({ ...args, authorPriv: mallory.privateKey, authorPub: await e2e.publicBytes(mallory) });
  await rejects('bad_signature', () => e2e.openEnvelope({ ...openArgs, envelope: byMallory }));
  // Mallory signs while naming the real author: the signature fails.
  const lying = await e2e.sealEnvelope({ ...args, authorPriv: mallory.privateKey });
  await rejects('bad_signature', () => e2e.openEnvelope({ ...openArgs, envelope: lying }));
  // Wrong recipient: another member's key.
  const other = await e2e.generateEcdh();
  const otherPub = await e2e.publicBytes(other);
  await rejects('decrypt_failed', () => e2e.openEnvelope({ ...openArgs, recipientPriv: other.privateKey, recipientPub: otherPub }));
  // Right kid, wrong private key: decryption fails after the signature check.
  await rejects('decrypt_failed', () => e2e.openEnvelope({ ...openArgs, recipientPriv: other.privateKey }));
  // Truncated or padded envelopes.
  await rejects('malformed', () => e2e.openEnvelope({ ...openArgs, envelope: env.subarray(0, env.length - 1) }));
  await rejects('malformed', () => e2e.openEnvelope({ ...openArgs, envelope: e2e.concat(env, Uint8Array.of(0)) }));
  await rejects('malformed', () => e2e.sealEnvelope({ ...args, purpose: 'other' }));
});

test('envelope: another tag or suite, purpose, field size or ephemeral point is refused', async () => {
  const p = await envelopeParties();
  const env = await e2e.sealEnvelope({ authorPriv: p.author.privateKey, authorPub: p.authorPub, recipientPub: p.recipientPub,
    purpose: 'note', epoch: 0, payload: 'x' });
  const parsed = await e2e.parseEnvelope(env);
  const rebuild = async (index, value) => {
    const fields = e2e.unseq(parsed.header, 8);
    fields[index] = value;
    return e2e.parseEnvelope(e2e.seq(e2e.seq(...fields), parsed.ct, parsed.sig));
  };
  await rejects('unsupported_suite', () => rebuild(1, enc.encode('cc2')));
  await rejects('unsupported_suite', () => rebuild(0, enc.encode('cc1 envelopE')));
  await rejects('malformed', () => rebuild(2, enc.encode('other')));
  await rejects('malformed', () => rebuild(4, new Uint8Array(7)));
  await rejects('malformed', () => rebuild(5, new Uint8Array(15)));
  await rejects('bad_key', () => rebuild(7, new Uint8Array(65).fill(4)));
});

// ---------------------------------------------------------------------------
// Passwords and identity

test('deriveMaster normalises: NFKC password, NFKC+trim+lowercase username', async () => {
  const origin = 'https://chat.example.org';
  const m1 = await e2e.deriveMaster('pa\uFB01s', origin, '  Anna.B ');
  const m2 = await e2e.deriveMaster('pafis', origin, 'anna.b');
  eq(m1, m2, 'normalised');
  eq(m1.length, 32, 'length');
  const salt = await e2e.sha256(e2e.seq('cc1 salt', origin, 'anna.b'));
  eq(m1, await e2e.pbkdf2('pafis', salt), 'definition');
  assert(!e2e.equalBytes(m1, await e2e.deriveMaster('pafis', 'https://other.example.org', 'anna.b')), 'bound to the salt');
});

test('usernames are trimmed like Python str.strip(), not like String.prototype.trim()', async () => {
  eq(e2e.normaliseUsername('\u001c\u0085 Jörg \ufeff'), 'jörg \ufeff', 'U+001C and U+0085 stripped, U+FEFF kept');
  eq(e2e.normaliseUsername('\u3000ANNA\u2003\t\n'), 'anna', 'Unicode spaces');
  eq(e2e.normaliseUsername('\uFF21nna'), 'anna', 'NFKC before lower case');
});

test('auth credential and wrap key: HKDF with S, or the zero salt without one', async () => {
  const m = e2e.randomBytes(32);
  const s = e2e.randomBytes(16);
  const auth = await e2e.authCredential(m, s);
  eq(auth, e2e.b64url(await e2e.hkdf(m, s, 'cc1 auth')), 'auth');
  assert(/^[A-Za-z0-9_-]{43}$/.test(auth), 'b64url without padding');
  eq(await e2e.authCredential(m, new Uint8Array(0)), e2e.b64url(await e2e.hkdf(m, new Uint8Array(32), 'cc1 auth')), 'zero salt');
  const w = await e2e.wrapKey(m, s);
  eq(w, await e2e.hkdf(m, s, 'cc1 wrap'), 'wrap');
  assert(auth !== e2e.b64url(w), 'auth and wrap differ');
  await rejects('bad_parameter', () => e2e.wrapKey(m, new Uint8Array(8)));
});

test('identity: wrap and unwrap; other salt, username, key or public halves are refused', async () => {
  const wrap = e2e.randomBytes(32);
  const dh = await e2e.generateEcdh();
  const sg = await e2e.generateEcdsa();
  const dhPub = await e2e.publicBytes(dh);
  const sigPub = await e2e.publicBytes(sg);
  const id = { wrap, salt: 'https://chat.example.org', username: 'anna' };
  const wrapped = await e2e.wrapIdentity({ ...id, dhPriv: dh.privateKey, sigPriv: sg.privateKey });
  const out = await e2e.unwrapIdentity({ ...id, dhPub, sigPub, wrapped });
  eq(await e2e.publicBytes(out.dhPriv), dhPub, 'I_dh');
  eq(await e2e.publicBytes(out.sigPriv), sigPub, 'I_sig');
  const sig = await e2e.sign(out.sigPriv, enc.encode('x'));
  assert(await e2e.verify(sigPub, enc.encode('x'), sig), 'the unwrapped I_sig signs');
  eq((await e2e.unwrapIdentity({ ...id, username: ' Anna ', dhPub, sigPub, wrapped })).dhPriv.type, 'private', 'username normalised');
  await rejects('decrypt_failed', () => e2e.unwrapIdentity({ ...id, salt: 'https://evil.example', dhPub, sigPub, wrapped }));
  await rejects('decrypt_failed', () => e2e.unwrapIdentity({ ...id, username: 'bob', dhPub, sigPub, wrapped }));
  await rejects('decrypt_failed', () => e2e.unwrapIdentity({ ...id, wrap: e2e.randomBytes(32), dhPub, sigPub, wrapped }));
  const otherPub = await e2e.publicBytes(await e2e.generateEcdh());
  await rejects('decrypt_failed', () => e2e.unwrapIdentity({ ...id, dhPub: otherPub, sigPub, wrapped }));
  // A server that wraps a different key under the right public halves (it cannot, without
  // `wrap`; simulated here): the console notices the mismatch.
  const swapped = await e2e.generateEcdh();
  const nonce = e2e.randomBytes(12);
  const ad = e2e.seq('cc1 identity', id.salt, id.username, dhPub, sigPub);
  const pt = e2e.seq(await e2e.exportPkcs8(swapped), await e2e.exportPkcs8(sg));
  const evil = e2e.concat(nonce, await e2e.seal(wrap, nonce, pt, ad));
  await rejects('key_mismatch', () => e2e.unwrapIdentity({ ...id, dhPub, sigPub, wrapped: evil }));
});

// ---------------------------------------------------------------------------
// Roster and enrolment

async function team() {
  const root = await e2e.generateEcdsa();
  const rPub = await e2e.publicBytes(root);
  const members = [];
  for (const [id, role] of [['s2', 'supervisor'], ['s1', 'counsellor'], ['s3', 'admin']]) {
    const dh = await e2e.generateEcdh();
    const sg = await e2e.generateEcdsa();
    members.push({ id, role, dhPub: await e2e.publicBytes(dh), sigPub: await e2e.publicBytes(sg), since: 1000 + members.length, dh, sg });
  }
  const fields = { team: 'youth-line', version: 4, issuedAt: 1_795_000_000_000, members };
  const wire = await e2e.signRoster(root.privateKey, rPub, fields);
  return { root, rPub, fields, wire, pin: await e2e.pin(rPub), opts: { pin: await e2e.pin(rPub), team: 'youth-line', minVersion: 4 } };
}

test('roster bytes: the spec layout, members sorted by code point whatever the input order', async () => {
  const m = (id) => ({ id, role: 'counsellor', dhPub: new Uint8Array(65).fill(4), sigPub: new Uint8Array(65).fill(4), since: 7 });
  const bytes = e2e.rosterBytes({ team: 't', version: 2, issuedAt: 3, members: [m('b'), m('a')] });
  const member = (id) => e2e.seq(id, 'counsellor', new Uint8Array(65).fill(4), new Uint8Array(65).fill(4), e2e.u64(7));
  eq(bytes, e2e.seq('cc1 roster', 'cc1', 't', e2e.u64(2), e2e.u64(3), e2e.seq(member('a'), member('b'))), 'layout');
  eq(e2e.rosterBytes({ team: 't', version: 2, issuedAt: 3, members: [m('a'), m('b')] }), bytes, 'order of input');
  // U+FF21 < U+1F600 by code point (Python), but not by UTF-16 unit (0xFF21 > 0xD83D).
  const astral = e2e.rosterBytes({ team: 't', version: 0, issuedAt: 0, members: [m('\u{1F600}'), m('\uFF21')] });
  eq(astral, e2e.seq('cc1 roster', 'cc1', 't', e2e.u64(0), e2e.u64(0), e2e.seq(member('\uFF21'), member('\u{1F600}'))), 'code point order');
  await rejects('malformed', () => e2e.rosterBytes({ team: 't', version: -1, issuedAt: 0, members: [] }));
  await rejects('malformed', () => e2e.rosterBytes({ team: 't', version: 0, issuedAt: 0, members: [{ ...m('a'), since: 1.5 }] }));
  await rejects('malformed', () => e2e.rosterBytes({ team: 't\ud800', version: 0, issuedAt: 0, members: [] }));
});

test('roster: signed and checked; wire fields; members by id; no pin; order on the wire is free', async () => {
  const t = await team();
  eq(JSON.stringify(Object.keys(t.wire)), JSON.stringify(['suite', 'team', 'version', 'issued_at', 'members', 'sig', 'r_pub']), 'wire fields');
  eq(JSON.stringify(Object.keys(t.wire.members[0])), JSON.stringify(['id', 'role', 'dh_pub', 'sig_pub', 'since']), 'member fields');
  eq(t.wire.members.map((m) => m.id).join(','), 's1,s2,s3', 'sorted by id');
  eq(e2e.b64decode(t.wire.sig).length, 64, 'raw signature');
  const r = await e2e.checkRoster(t.wire, t.opts);
  eq(r.team, 'youth-line', 'team');
  eq(r.version, 4, 'version');
  eq(r.issuedAt, t.fields.issuedAt, 'issued at');
  eq(r.rPub, t.rPub, 'rPub');
  assert(r.members instanceof Map && r.members.size === 3, 'a Map of three');
  for (const m of t.fields.members) {
    const got = r.members.get(m.id);
    eq(got.role, m.role, `${m.id} role`);
    eq(got.dhPub, m.dhPub, `${m.id} dhPub`);
    eq(got.sigPub, m.sigPub, `${m.id} sigPub`);
    eq(got.since, m.since, `${m.id} since`);
  }
  await e2e.checkRoster(t.wire, { ...t.opts, pin: null });
  await e2e.checkRoster(t.wire, { pin: t.pin, team: 'youth-line' });
  await e2e.checkRoster({ ...t.wire, members: [...t.wire.members].reverse() }, t.opts);
  const roundTrip = JSON.parse(JSON.stringify(t.wire));
  await e2e.checkRoster(roundTrip, t.opts);
  let threw = false;
  try { await e2e.checkRoster(t.wire, { team: 'youth-line' }); } catch (err) { threw = err instanceof TypeError; }
  assert(threw, 'a missing pin option is a programming error');
});

test('roster: every failure reason, in the order of the spec', async () => {
  const t = await team();
  const { wire, opts } = t;
  const otherPin = await e2e.pin(await e2e.publicBytes(await e2e.generateEcdsa()));
  const member = (k, change) => ({ ...wire, members: wire.members.map((m, j) => (j === k ? { ...m, ...change } : m)) });
  const zeros = e2e.b64encode(new Uint8Array(65));
  const resign = (change) => e2e.signRoster(t.root.privateKey, t.rPub, { ...t.fields, ...change });
  // unsupported_suite, before anything else
  await rejects('unsupported_suite', () => e2e.checkRoster({ ...wire, suite: 'cc2' }, opts));
  await rejects('unsupported_suite', () => e2e.checkRoster({ ...member(0, { dh_pub: zeros }), suite: undefined }, opts));
  // malformed: missing or mistyped fields
  await rejects('malformed', () => e2e.checkRoster(null, opts));
  await rejects('malformed', () => e2e.checkRoster({ ...wire, members: {} }, opts));
  await rejects('malformed', () => e2e.checkRoster({ ...wire, sig: undefined }, opts));
  await rejects('malformed', () => e2e.checkRoster({ ...wire, version: '4' }, opts));
  await rejects('malformed', () => e2e.checkRoster(member(1, { since: -1 }), opts));
  await rejects('malformed', () => e2e.checkRoster(member(1, { dh_pub: 'not base64!' }), opts));
  await rejects('malformed', () => e2e.checkRoster(member(1, { id: 7 }), opts));
  // bad_key: the root key, then each member's keys
  await rejects('bad_key', () => e2e.checkRoster({ ...wire, r_pub: e2e.b64encode(t.rPub.subarray(0, 64)) }, opts));
  await rejects('bad_key', () => e2e.checkRoster(member(2, { sig_pub: zeros }), opts));
  await rejects('bad_key', () => e2e.checkRoster(member(2, { dh_pub: zeros, role: 'root' }), { ...opts, pin: otherPin }));
  // malformed: an unknown role, a member twice (both before the pin)
  await rejects('malformed', () => e2e.checkRoster(member(0, { role: 'owner' }), { ...opts, pin: otherPin }));
  await rejects('malformed', () => e2e.checkRoster({ ...wire, members: [...wire.members, { ...wire.members[0], role: 'admin' }] }, opts));
  // pin_mismatch: another pin, or a server's own root key
  await rejects('pin_mismatch', () => e2e.checkRoster(wire, { ...opts, pin: otherPin }));
  const evil = await e2e.generateEcdsa();
  const evilPub = await e2e.publicBytes(evil);
  const forged = await e2e.signRoster(evil.privateKey, evilPub, t.fields);
  await rejects('pin_mismatch', () => e2e.checkRoster(forged, opts));
  await e2e.checkRoster(forged, { ...opts, pin: null }); // without a pin: compare the safety number
  // bad_signature: anything changed under the root's signature
  const intruder = { id: 's9', role: 'admin', dh_pub: e2e.b64encode(await e2e.publicBytes(await e2e.generateEcdh())),
    sig_pub: e2e.b64encode(evilPub), since: 1 };
  await rejects('bad_signature', () => e2e.checkRoster({ ...wire, members: [...wire.members, intruder] }, opts));
  await rejects('bad_signature', () => e2e.checkRoster({ ...wire, members: wire.members.slice(1) }, opts));
  await rejects('bad_signature', () => e2e.checkRoster(member(0, { dh_pub: intruder.dh_pub }), opts));
  await rejects('bad_signature', () => e2e.checkRoster(member(0, { sig_pub: intruder.sig_pub }), opts));
  await rejects('bad_signature', () => e2e.checkRoster(member(0, { role: 'admin' }), opts));
  await rejects('bad_signature', () => e2e.checkRoster(member(0, { since: 0 }), opts));
  await rejects('bad_signature', () => e2e.checkRoster(member(0, { id: 's0' }), opts));
  await rejects('bad_signature', () => e2e.checkRoster({ ...wire, version: 5 }, opts));
  await rejects('bad_signature', () => e2e.checkRoster({ ...wire, issued_at: wire.issued_at + 1 }, opts));
  await rejects('bad_signature', () => e2e.checkRoster({ ...wire, team: 'other-team' }, { ...opts, team: 'other-team' }));
  await rejects('bad_signature', () => e2e.checkRoster({ ...wire, r_pub: e2e.b64encode(evilPub) }, { ...opts, pin: null }));
  await rejects('bad_signature', () => e2e.checkRoster({ ...wire, sig: e2e.b64encode(new Uint8Array(64)) }, { ...opts, team: 'x', minVersion: 9 }));
  await rejects('bad_signature', () => e2e.checkRoster({ ...wire, sig: e2e.b64encode(new Uint8Array(63)) }, opts));
  // wrong_team, then roster_rollback
  await rejects('wrong_team', async () => e2e.checkRoster(await resign({ team: 'other-team' }), opts));
  await rejects('wrong_team', () => e2e.checkRoster(wire, { ...opts, team: 'other-team', minVersion: 9 }));
  await rejects('roster_rollback', () => e2e.checkRoster(wire, { ...opts, minVersion: 5 }));
  await rejects('roster_rollback', async () => e2e.checkRoster(await resign({ version: 3 }), opts));
  await e2e.checkRoster(await resign({ version: 5 }), opts);
});

test('roster: signing refuses an unknown role, a bad key or an id twice', async () => {
  const t = await team();
  const sign = (members) => e2e.signRoster(t.root.privateKey, t.rPub, { ...t.fields, members });
  const [a, b] = t.fields.members;
  await rejects('malformed', () => sign([a, { ...b, role: 'root' }]));
  await rejects('bad_key', () => sign([a, { ...b, dhPub: b.dhPub.subarray(0, 64) }]));
  await rejects('bad_key', () => sign([a, { ...b, sigPub: new Uint8Array(65).fill(4) }]));
  await rejects('malformed', () => sign([a, { ...b, id: a.id }]));
  eq((await sign([])).members.length, 0, 'an empty roster');
});

test('enrolment MAC: HMAC-SHA-256 over enrol_bytes; the admin accepts it, a substituted key is refused', async () => {
  const t = await team();
  const [nina] = t.fields.members;
  const secret = e2e.randomBytes(32);
  const fields = { team: 'youth-line', inviteId: 'inv_4fK2', username: ' Nina.K ', dhPub: nina.dhPub, sigPub: nina.sigPub };
  const mac = await e2e.enrolMac(secret, fields);
  eq(mac.length, 32, 'length');
  eq(e2e.enrolBytes(fields), e2e.seq('cc1 enrol', 'cc1', 'youth-line', 'inv_4fK2', 'nina.k', nina.dhPub, nina.sigPub), 'enrol bytes');
  const key = await globalThis.crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  eq(mac, new Uint8Array(await globalThis.crypto.subtle.sign('HMAC', key, e2e.enrolBytes(fields))), 'definition');
  await e2e.checkEnrolMac(secret, fields, mac);
  await e2e.checkEnrolMac(secret, { ...fields, username: 'NINA.k\u3000' }, mac);
  // The server substitutes keys, or anything else, without the secret from the link.
  const evilDh = await e2e.publicBytes(await e2e.generateEcdh());
  const evilSig = await e2e.publicBytes(await e2e.generateEcdsa());
  await rejects('bad_signature', () => e2e.checkEnrolMac(secret, { ...fields, dhPub: evilDh }, mac));
  await rejects('bad_signature', () => e2e.checkEnrolMac(secret, { ...fields, sigPub: evilSig }, mac));
  await rejects('bad_signature', () => e2e.checkEnrolMac(secret, { ...fields, dhPub: nina.sigPub, sigPub: nina.dhPub }, mac));
  const ownMac = await e2e.enrolMac(e2e.randomBytes(32), { ...fields, dhPub: evilDh });
  await rejects('bad_signature', () => e2e.checkEnrolMac(secret, { ...fields, dhPub: evilDh }, ownMac));
  await rejects('bad_signature', () => e2e.checkEnrolMac(secret, { ...fields, username: 'nina.k2' }, mac));
  await rejects('bad_signature', () => e2e.checkEnrolMac(secret, { ...fields, inviteId: 'inv_4fK3' }, mac));
  await rejects('bad_signature', () => e2e.checkEnrolMac(secret, { ...fields, team: 'other-team' }, mac));
  await rejects('bad_signature', () => e2e.checkEnrolMac(e2e.randomBytes(32), fields, mac));
  await rejects('bad_signature', () => e2e.checkEnrolMac(secret, fields, mac.subarray(0, 16)));
  await rejects('bad_signature', () => e2e.checkEnrolMac(secret, fields, new Uint8Array(0)));
  const flipped = mac.slice();
  flipped[0] ^= 1;
  await rejects('bad_signature', () => e2e.checkEnrolMac(secret, fields, flipped));
  // The keys are checked first; the invite secret has 32 bytes.
  await rejects('bad_key', () => e2e.checkEnrolMac(secret, { ...fields, dhPub: new Uint8Array(65) }, mac));
  await rejects('bad_key', () => e2e.checkEnrolMac(new Uint8Array(0), { ...fields, sigPub: nina.sigPub.subarray(0, 33) }, flipped));
  await rejects('bad_key', () => e2e.enrolMac(secret, { ...fields, sigPub: new Uint8Array(65).fill(4) }));
  await rejects('bad_parameter', () => e2e.enrolMac(new Uint8Array(16), fields));
  await rejects('bad_parameter', () => e2e.checkEnrolMac(new Uint8Array(0), fields, mac));
});

// ---------------------------------------------------------------------------

let passed = 0;
let failed = 0;
for (const { name, fn } of tests) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}\n     ${err && err.stack ? err.stack.split('\n').slice(0, 3).join('\n     ') : err}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
