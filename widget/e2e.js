/**
 * Suite cc1 of the end-to-end layer on WebCrypto alone (docs/e2e.md, byte for byte).
 *
 * Shared by the widget and the console: no DOM, no storage, no network, no dependency.
 * Runs in browsers and in Node 20 (`globalThis.crypto.subtle`). Bytes are Uint8Array,
 * keys are CryptoKey objects, counters, epochs and millisecond times are numbers.
 * Every failed check throws an E2EError whose `reason` is a stable code (the same codes
 * as chatserver/e2e/errors.py).
 *
 * @module e2e
 */

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

export const SUITE = 'cc1';
export const PBKDF2_ITERATIONS = 600000;
/** Each message key protects at most 2^20 messages: n is 0 … 2^20 - 1. */
export const MAX_MESSAGES = 2 ** 20;
/** The longest validity window of a team bundle: two days in milliseconds. */
export const MAX_BUNDLE_WINDOW_MS = 2 * 24 * 60 * 60 * 1000;
export const DIRECTIONS = Object.freeze(['c2t', 't2c']);
export const KINDS = Object.freeze(['msg', 'accept', 'rekey', 'close', 'receipt']);
export const PURPOSES = Object.freeze(['conv_key', 'team_key', 'note', 'handover', 'hold']);
export const ROLES = Object.freeze(['counsellor', 'supervisor', 'admin']);
/** The length of the invite secret `s` of an enrolment. */
export const ENROL_SECRET_BYTES = 32;

const SMALL_BUCKET = 256;
const SMALL_LIMIT = 4096;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const ECDH_ALG = { name: 'ECDH', namedCurve: 'P-256' };
const ECDSA_ALG = { name: 'ECDSA', namedCurve: 'P-256' };
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' };

/** Every reason code and what a person is shown (mirrors chatserver/e2e/errors.py). */
export const REASONS = Object.freeze({
  malformed: 'The encrypted data is damaged.',
  bad_key: 'A key is not valid.',
  bad_padding: 'A message is damaged.',
  decrypt_failed: 'A message could not be decrypted: it was changed or is not for you.',
  bad_signature: 'A signature does not match: the data was changed or forged.',
  unsupported_suite: 'This version of the encryption is not supported.',
  pin_mismatch: 'The team key does not match the key this website pinned.',
  wrong_team: 'The keys belong to another team.',
  not_yet_valid: 'The team key is not valid yet.',
  expired: 'The team key has expired.',
  window_too_long: 'The team key claims too long a validity.',
  epoch_rollback: 'The team key is older than one already seen.',
  roster_rollback: "The team's member list is older than one already seen.",
  key_mismatch: 'A private key does not match its public key.',
  bad_parameter: 'A protocol constant has an unexpected value.',
});

/** A failed cryptographic check; `reason` is one of {@link REASONS}. */
export class E2EError extends Error {
  /**
   * @param {string} reason a key of REASONS
   * @param {string} [message] detail for developers; REASONS[reason] when absent
   */
  constructor(reason, message) {
    super(message || REASONS[reason] || reason);
    this.name = 'E2EError';
    this.reason = reason;
  }
}

// ---------------------------------------------------------------------------
// Encodings

/** @returns {Uint8Array} the concatenation of byte arrays */
export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** @returns {boolean} whether two byte arrays are equal (not constant-time: public data only) */
export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function bytesOf(x, what) {
  if (x instanceof Uint8Array) return x;
  throw new TypeError(`${what} must be a Uint8Array`);
}

/**
 * 8 bytes, unsigned big-endian.
 * @param {number|bigint} n an integer 0 … 2^53 - 1 (number) or 0 … 2^64 - 1 (BigInt)
 * @returns {Uint8Array}
 */
export function u64(n) {
  let big;
  if (typeof n === 'bigint') big = n;
  else if (Number.isSafeInteger(n)) big = BigInt(n);
  else throw new E2EError('malformed', 'an integer field is not an integer');
  if (big < 0n || big >= 1n << 64n) throw new E2EError('malformed', 'an integer field is out of range');
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, big);
  return out;
}

/**
 * Reads 8 big-endian bytes as a number.
 * @param {Uint8Array} b exactly 8 bytes
 * @returns {number} throws `malformed` above 2^53 - 1
 */
export function readU64(b) {
  if (b.length !== 8) throw new E2EError('malformed', 'an integer field is not 8 bytes');
  const big = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new E2EError('malformed', 'an integer field is too large');
  return Number(big);
}

/** @returns {Uint8Array} 4 bytes, unsigned big-endian */
export function u32(n) {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new E2EError('malformed', 'length out of range');
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

/** `u32(len(x)) ‖ x` */
export function lp(bytes) {
  bytesOf(bytes, 'lp()');
  return concat(u32(bytes.length), bytes);
}

/**
 * `lp(a) ‖ lp(b) ‖ …`: strings as UTF-8, numbers and BigInts as u64 first, Uint8Array as is.
 * @param {...(string|number|bigint|Uint8Array)} parts
 * @returns {Uint8Array}
 */
export function seq(...parts) {
  return concat(...parts.map((part) => {
    if (typeof part === 'string') return lp(utf8.encode(part));
    if (typeof part === 'number' || typeof part === 'bigint') return lp(u64(part));
    if (part instanceof Uint8Array) return lp(part);
    throw new TypeError(`seq() cannot encode ${typeof part}`);
  }));
}

/**
 * Splits exactly `count` length-prefixed fields; anything else is `malformed`.
 * @returns {Uint8Array[]} views into `data`
 */
export function unseq(data, count) {
  const fields = [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  for (let i = 0; i < count; i++) {
    if (pos + 4 > data.length) throw new E2EError('malformed', 'truncated field');
    const size = view.getUint32(pos);
    pos += 4;
    if (pos + size > data.length) throw new E2EError('malformed', 'truncated field');
    fields.push(data.subarray(pos, pos + size));
    pos += size;
  }
  if (pos !== data.length) throw new E2EError('malformed', 'trailing bytes');
  return fields;
}

/** @returns {number} the padded length for `size` bytes of content plus the 0x80 marker */
export function bucket(size) {
  const need = size + 1;
  if (need <= SMALL_LIMIT) return Math.ceil(need / SMALL_BUCKET) * SMALL_BUCKET;
  let b = SMALL_LIMIT;
  while (b < need) b *= 2;
  return b;
}

/** `P ‖ 0x80 ‖ zeros` up to {@link bucket}(len(P)). */
export function pad(bytes) {
  bytesOf(bytes, 'pad()');
  const out = new Uint8Array(bucket(bytes.length));
  out.set(bytes);
  out[bytes.length] = 0x80;
  return out;
}

/** Strips trailing zeros, then exactly one 0x80; anything else throws `bad_padding`. */
export function unpad(bytes) {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  if (end === 0 || bytes[end - 1] !== 0x80) throw new E2EError('bad_padding', 'the padding is not valid');
  return bytes.slice(0, end - 1);
}

/** Standard base64 with padding. */
export function b64encode(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** Strict standard base64 with padding; anything else throws `malformed`. */
export function b64decode(text) {
  if (typeof text !== 'string' || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw new E2EError('malformed', 'not base64');
  }
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** base64url without padding. */
export function b64url(bytes) {
  return b64encode(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** @returns {Promise<Uint8Array>} SHA-256 */
export async function sha256(bytes) {
  return new Uint8Array(await subtle.digest('SHA-256', bytesOf(bytes, 'sha256()')));
}

/** @returns {Promise<Uint8Array>} `H(seq("cc1 kid", pub))[0:16]` */
export async function kid(pub65) {
  return (await sha256(seq('cc1 kid', pub65))).slice(0, 16);
}

/** @returns {Uint8Array} `n` random bytes (12 by default: an AES-GCM nonce) */
export function randomBytes(n = NONCE_BYTES) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

// ---------------------------------------------------------------------------
// Keys

/** @returns {Promise<CryptoKeyPair>} a fresh extractable P-256 ECDH key pair */
export function generateEcdh() {
  return subtle.generateKey(ECDH_ALG, true, ['deriveBits']);
}

/** @returns {Promise<CryptoKeyPair>} a fresh extractable P-256 ECDSA key pair */
export function generateEcdsa() {
  return subtle.generateKey(ECDSA_ALG, true, ['sign', 'verify']);
}

/**
 * The 65-byte uncompressed point of a key pair, a public key, or an extractable private key.
 * @param {CryptoKey|CryptoKeyPair} key
 * @returns {Promise<Uint8Array>}
 */
export async function publicBytes(key) {
  if (key.publicKey) key = key.publicKey;
  if (key.type === 'public') return new Uint8Array(await subtle.exportKey('raw', key));
  const jwk = await subtle.exportKey('jwk', key);
  return concat(Uint8Array.of(4), b64urlDecode(jwk.x), b64urlDecode(jwk.y));
}

function b64urlDecode(text) {
  const std = text.replace(/-/g, '+').replace(/_/g, '/');
  return b64decode(std + '='.repeat((4 - (std.length % 4)) % 4));
}

function checkPointShape(bytes) {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 65 || bytes[0] !== 4) {
    throw new E2EError('bad_key', 'a public key must be a 65-byte uncompressed P-256 point');
  }
}

async function importPublic(bytes, alg, usages) {
  checkPointShape(bytes);
  try {
    return await subtle.importKey('raw', bytes, alg, true, usages);
  } catch {
    throw new E2EError('bad_key', 'not a point on P-256');
  }
}

/** A 65-byte uncompressed point as an ECDH public key; anything else throws `bad_key`. */
export function importPublicEcdh(bytes) {
  return importPublic(bytes, ECDH_ALG, []);
}

/** A 65-byte uncompressed point as an ECDSA public key; anything else throws `bad_key`. */
export function importPublicEcdsa(bytes) {
  return importPublic(bytes, ECDSA_ALG, ['verify']);
}

/** @returns {Promise<Uint8Array>} PKCS#8 DER of a private key (or of a pair's private half) */
export async function exportPkcs8(key) {
  if (key.privateKey) key = key.privateKey;
  return new Uint8Array(await subtle.exportKey('pkcs8', key));
}

async function importPrivate(pkcs8, alg, usages, extractable) {
  try {
    return await subtle.importKey('pkcs8', bytesOf(pkcs8, 'pkcs8'), alg, extractable, usages);
  } catch {
    throw new E2EError('bad_key', 'not a P-256 PKCS#8 private key');
  }
}

/** PKCS#8 DER as an ECDH private key (extractable unless told); `bad_key` otherwise. */
export function importPrivateEcdh(pkcs8, extractable = true) {
  return importPrivate(pkcs8, ECDH_ALG, ['deriveBits'], extractable);
}

/** PKCS#8 DER as an ECDSA private key (extractable unless told); `bad_key` otherwise. */
export function importPrivateEcdsa(pkcs8, extractable = true) {
  return importPrivate(pkcs8, ECDSA_ALG, ['sign'], extractable);
}

/** @returns {Promise<string>} the team-root pin: `b64url(H(SPKI(R_pub)))` without padding */
export async function pin(rPub65) {
  const key = await importPublicEcdsa(rPub65);
  return b64url(await sha256(new Uint8Array(await subtle.exportKey('spki', key))));
}

/** @returns {Promise<string>} thirty digits in six groups of five, "12345 67890 …" */
export async function safetyNumber(rPub65) {
  checkPointShape(rPub65);
  const d = await sha256(seq('cc1 safety', rPub65));
  const groups = [];
  for (let i = 0; i < 6; i++) {
    let v = 0;
    for (const byte of d.subarray(5 * i, 5 * i + 5)) v = v * 256 + byte; // < 2^40: exact
    groups.push(String(v % 100000).padStart(5, '0'));
  }
  return groups.join(' ');
}

// ---------------------------------------------------------------------------
// Primitives

/** @returns {Promise<Uint8Array>} the 32-byte x coordinate of `priv · peer` */
export async function ecdh(privKey, peerPub65) {
  const peer = await importPublicEcdh(peerPub65);
  return new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: peer }, privKey, 256));
}

/**
 * HKDF-SHA-256 through deriveBits. An empty salt is HKDF's zero salt.
 * @param {Uint8Array} ikm
 * @param {Uint8Array} salt
 * @param {string|Uint8Array} info a string is UTF-8
 * @param {number} [length] output bytes
 */
export async function hkdf(ikm, salt, info, length = 32) {
  const key = await subtle.importKey('raw', bytesOf(ikm, 'ikm'), 'HKDF', false, ['deriveBits']);
  const infoBytes = typeof info === 'string' ? utf8.encode(info) : bytesOf(info, 'info');
  const alg = { name: 'HKDF', hash: 'SHA-256', salt: bytesOf(salt, 'salt'), info: infoBytes };
  return new Uint8Array(await subtle.deriveBits(alg, key, length * 8));
}

async function aesKey(key32, usage) {
  if (!(key32 instanceof Uint8Array) || key32.length !== 32) {
    throw new E2EError('bad_key', 'an AES-256 key must be 32 bytes');
  }
  return subtle.importKey('raw', key32, 'AES-GCM', false, [usage]);
}

function gcm(nonce12, ad) {
  if (!(nonce12 instanceof Uint8Array) || nonce12.length !== NONCE_BYTES) {
    throw new E2EError('malformed', 'a nonce must be 12 bytes');
  }
  return { name: 'AES-GCM', iv: nonce12, additionalData: bytesOf(ad, 'ad'), tagLength: 128 };
}

/** @returns {Promise<Uint8Array>} AES-256-GCM `ciphertext ‖ tag` */
export async function seal(key32, nonce12, plaintext, ad) {
  const key = await aesKey(key32, 'encrypt');
  return new Uint8Array(await subtle.encrypt(gcm(nonce12, ad), key, bytesOf(plaintext, 'plaintext')));
}

/** @returns {Promise<Uint8Array>} the plaintext; throws `decrypt_failed` */
export async function open(key32, nonce12, ciphertext, ad) {
  const key = await aesKey(key32, 'decrypt');
  const params = gcm(nonce12, ad);
  if (ciphertext.length < TAG_BYTES) throw new E2EError('decrypt_failed');
  try {
    return new Uint8Array(await subtle.decrypt(params, key, ciphertext));
  } catch {
    throw new E2EError('decrypt_failed');
  }
}

/** @returns {Promise<Uint8Array>} ECDSA P-256 SHA-256 as raw `r ‖ s` (64 bytes) */
export async function sign(privEcdsa, msg) {
  return new Uint8Array(await subtle.sign(ECDSA_SHA256, privEcdsa, bytesOf(msg, 'msg')));
}

/** @returns {Promise<boolean>} whether `sig64` is a valid signature; a bad key throws `bad_key` */
export async function verify(pub65, msg, sig64) {
  const key = await importPublicEcdsa(pub65);
  if (!(sig64 instanceof Uint8Array) || sig64.length !== 64) return false;
  try {
    return await subtle.verify(ECDSA_SHA256, key, sig64, bytesOf(msg, 'msg'));
  } catch {
    return false;
  }
}

/**
 * PBKDF2-HMAC-SHA-256, 32 bytes. The iteration count is a suite constant.
 * @param {string|Uint8Array} password a string is UTF-8 as given (normalise before)
 * @param {Uint8Array} salt
 * @param {number} [iterations] anything but 600 000 throws `bad_parameter`
 */
export async function pbkdf2(password, salt, iterations = PBKDF2_ITERATIONS) {
  if (iterations !== PBKDF2_ITERATIONS) {
    throw new E2EError('bad_parameter', 'cc1 uses exactly 600 000 PBKDF2 iterations');
  }
  const pw = typeof password === 'string' ? utf8.encode(password) : bytesOf(password, 'password');
  const key = await subtle.importKey('raw', pw, 'PBKDF2', false, ['deriveBits']);
  const alg = { name: 'PBKDF2', hash: 'SHA-256', salt: bytesOf(salt, 'salt'), iterations };
  return new Uint8Array(await subtle.deriveBits(alg, key, 256));
}

// ---------------------------------------------------------------------------
// Queue, messages, accept, chat keys

function checkCounter(n, what) {
  if (!Number.isSafeInteger(n) || n < 0) throw new E2EError('malformed', `${what} must be an integer >= 0`);
}

function checkMessageFields({ dir, gen, n, kind, id }) {
  if (!DIRECTIONS.includes(dir)) throw new E2EError('malformed', 'dir must be c2t or t2c');
  if (!KINDS.includes(kind)) throw new E2EError('malformed', 'unknown message kind');
  checkCounter(gen, 'gen');
  checkCounter(n, 'n');
  if (n >= MAX_MESSAGES) throw new E2EError('bad_parameter', 'a key protects at most 2^20 messages');
  if (typeof id !== 'string') throw new TypeError('id must be a string');
}

/**
 * The queue keys of a conversation. The client passes (C_priv, T_pub), the team (T_priv, C_pub).
 * @returns {Promise<{c2t: Uint8Array, t2c: Uint8Array}>}
 */
export async function queueKeys(ownPriv, peerPub65, team, epoch, cid, cPub65) {
  checkCounter(epoch, 'epoch');
  checkPointShape(cPub65);
  const q = await ecdh(ownPriv, peerPub65);
  const salt = seq('cc1 queue', team, u64(epoch), cid, cPub65);
  return { c2t: await hkdf(q, salt, 'cc1 queue c2t'), t2c: await hkdf(q, salt, 'cc1 queue t2c') };
}

function messageAd({ cid, dir, gen, n, kind, id }) {
  return seq('cc1 msg', cid, dir, u64(gen), u64(n), kind, id);
}

/**
 * `body = N ‖ seal(K, N, pad(seq(text, u64(ack))), AD)`.
 * @param {{key: Uint8Array, cid: string, dir: string, gen: number, n: number, kind: string,
 *          id: string, text: string|Uint8Array, ack: number, nonce?: Uint8Array}} m
 *        text: a string (UTF-8) or its bytes; ack: the highest n received from the peer + 1
 *        (0 = none); nonce: random if absent (fixed only in test vectors)
 * @returns {Promise<Uint8Array>} throws `malformed` (unknown dir or kind),
 *          `bad_parameter` (n >= 2^20: rekey first)
 */
export async function encryptMessage(m) {
  checkMessageFields(m);
  checkCounter(m.ack, 'ack');
  const nonce = m.nonce ?? randomBytes();
  const text = typeof m.text === 'string' ? utf8.encode(m.text) : bytesOf(m.text, 'text');
  const plaintext = pad(seq(text, u64(m.ack)));
  return concat(nonce, await seal(m.key, nonce, plaintext, messageAd(m)));
}

/**
 * Opens a message body made by {@link encryptMessage} with the same frame fields.
 * @returns {Promise<{text: string, ack: number}>} throws `decrypt_failed` (any bound field,
 *          the key or a byte changed), `bad_padding`, `malformed` (also: text not UTF-8)
 */
export async function decryptMessage(m) {
  checkMessageFields(m);
  const body = m.body;
  if (body.length < NONCE_BYTES + TAG_BYTES) throw new E2EError('malformed', 'a message body is too short');
  const plaintext = await open(m.key, body.subarray(0, NONCE_BYTES), body.subarray(NONCE_BYTES), messageAd(m));
  const [text, ack] = unseq(unpad(plaintext), 2);
  return { text: decodeText(text), ack: readU64(ack) };
}

function decodeText(bytes) {
  try {
    return fromUtf8.decode(bytes);
  } catch {
    throw new E2EError('malformed', 'text is not UTF-8');
  }
}

/** @returns {Promise<Uint8Array>} `H(seq("cc1 queue hash", b_0, …))` over the queued bodies */
export function queueHash(bodies) {
  return sha256(seq('cc1 queue hash', ...bodies));
}

/** @returns {Promise<Uint8Array>} the 32-byte transcript hash of an accept */
export function transcript({ team, epoch, bundleHash, cid, cPub, ePub, nSeen, queueHash: qh }) {
  checkCounter(epoch, 'epoch');
  checkCounter(nSeen, 'nSeen');
  return sha256(seq('cc1 transcript', SUITE, team, u64(epoch), bundleHash, cid, cPub, ePub, u64(nSeen), qh));
}

function acceptAd({ team, epoch, cid, cPub, ePub, nSeen }) {
  return seq('cc1 accept', team, u64(epoch), cid, cPub, ePub, u64(nSeen));
}

/**
 * `accept_body = E_pub ‖ u64(n_seen) ‖ N ‖ seal(K_q_t2c, N, pad(transcript), AD_acc)`.
 * @returns {Promise<Uint8Array>}
 */
export async function makeAccept(a) {
  checkPointShape(a.ePub);
  checkCounter(a.epoch, 'epoch');
  checkCounter(a.nSeen, 'nSeen');
  const nonce = a.nonce ?? randomBytes();
  const ct = await seal(a.kQT2c, nonce, pad(a.transcript), acceptAd(a));
  return concat(a.ePub, u64(a.nSeen), nonce, ct);
}

/**
 * Opens an accept body. The caller must still compare the transcript with its own.
 * @param {{kQT2c: Uint8Array, team: string, epoch: number, cid: string, cPub: Uint8Array,
 *          body: Uint8Array}} a
 * @returns {Promise<{ePub: Uint8Array, nSeen: number, transcript: Uint8Array}>}
 */
export async function openAccept({ kQT2c, team, epoch, cid, cPub, body }) {
  if (body.length < 65 + 8 + NONCE_BYTES + TAG_BYTES) throw new E2EError('malformed', 'accept too short');
  const ePub = body.slice(0, 65);
  await importPublicEcdh(ePub);
  const nSeen = readU64(body.subarray(65, 73));
  const nonce = body.subarray(73, 73 + NONCE_BYTES);
  const ad = acceptAd({ team, epoch, cid, cPub, ePub, nSeen });
  const t = unpad(await open(kQT2c, nonce, body.subarray(73 + NONCE_BYTES), ad));
  if (t.length !== 32) throw new E2EError('malformed', 'a transcript is 32 bytes');
  return { ePub, nSeen, transcript: t };
}

/**
 * The chat keys of generation 1: `HKDF(ecdh1 ‖ ecdh2, transcript, "cc1 chat c2t" / "… t2c")`.
 * @param {Uint8Array} ecdh1 ECDH(C, E)
 * @param {Uint8Array} ecdh2 ECDH(C, T_e)
 * @returns {Promise<{c2t: Uint8Array, t2c: Uint8Array}>}
 */
export async function chatKeys(ecdh1, ecdh2, transcriptHash) {
  const ikm = concat(ecdh1, ecdh2);
  return {
    c2t: await hkdf(ikm, transcriptHash, 'cc1 chat c2t'),
    t2c: await hkdf(ikm, transcriptHash, 'cc1 chat t2c'),
  };
}

// ---------------------------------------------------------------------------
// Final counts and rekey

export const COUNT_TAGS = Object.freeze(['cc1 close', 'cc1 rekey ack']);

/**
 * `seq(tag, u64(gen), u64(sent), u64(received))`: the text of a `close` message (tag
 * `cc1 close`) or of the client's rekey acknowledgement (tag `cc1 rekey ack`).
 * @returns {Uint8Array}
 */
export function countsText(tag, gen, sent, received) {
  if (!COUNT_TAGS.includes(tag)) throw new E2EError('malformed', 'unknown final-counts tag');
  for (const [v, what] of [[gen, 'gen'], [sent, 'sent'], [received, 'received']]) checkCounter(v, what);
  return seq(tag, u64(gen), u64(sent), u64(received));
}

/** @returns {{gen: number, sent: number, received: number}} throws `malformed` */
export function parseCounts(tag, text) {
  const [got, gen, sent, received] = unseq(text, 4);
  if (!COUNT_TAGS.includes(tag) || !equalBytes(got, utf8.encode(tag))) throw new E2EError('malformed', `not a ${tag} text`);
  return { gen: readU64(gen), sent: readU64(sent), received: readU64(received) };
}

/**
 * The text of a team's `rekey` message:
 * `seq("cc1 rekey", u64(gen), u64(sent), u64(received), u64(epoch'), E'_pub)`.
 * @returns {Promise<Uint8Array>} throws `bad_key` when ePub is not a P-256 point
 */
export async function rekeyText({ gen, sent, received, epoch, ePub }) {
  await importPublicEcdh(ePub);
  for (const [v, what] of [[gen, 'gen'], [sent, 'sent'], [received, 'received'], [epoch, 'epoch']]) checkCounter(v, what);
  return seq('cc1 rekey', u64(gen), u64(sent), u64(received), u64(epoch), ePub);
}

/** @returns {Promise<{gen: number, sent: number, received: number, epoch: number, ePub: Uint8Array}>} */
export async function parseRekey(text) {
  const [tag, gen, sent, received, epoch, ePub] = unseq(text, 6);
  if (!equalBytes(tag, utf8.encode('cc1 rekey'))) throw new E2EError('malformed', 'not a rekey text');
  const fields = { gen: readU64(gen), sent: readU64(sent), received: readU64(received), epoch: readU64(epoch) };
  await importPublicEcdh(ePub);
  return { ...fields, ePub: ePub.slice() };
}

/**
 * The transcript of generation `gen` (>= 2), chained over the previous generation's and the
 * final counts of the team's rekey message.
 * @returns {Promise<Uint8Array>}
 */
export function rekeyTranscript({ previous, gen, team, epoch, bundleHash: bh, ePub, sent, received }) {
  if (previous.length !== 32 || bh.length !== 32) throw new E2EError('malformed', 'a transcript and a bundle hash are 32 bytes');
  for (const [v, what] of [[gen, 'gen'], [epoch, 'epoch'], [sent, 'sent'], [received, 'received']]) checkCounter(v, what);
  return sha256(seq('cc1 rekey transcript', SUITE, previous, u64(gen), team, u64(epoch), bh, ePub, u64(sent), u64(received)));
}

// ---------------------------------------------------------------------------
// Legal hold

function splitAll(data) {
  const fields = [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  while (pos < data.length) {
    if (pos + 4 > data.length) throw new E2EError('malformed', 'truncated field');
    const size = view.getUint32(pos);
    if (pos + 4 + size > data.length) throw new E2EError('malformed', 'truncated field');
    fields.push(data.subarray(pos + 4, pos + 4 + size));
    pos += 4 + size;
  }
  return fields;
}

/**
 * The legal-hold package: `seq("cc1 hold", cid, seq(seq(u64(g), K_c2t, K_t2c), …), seq(note, …))`.
 * @param {string} cid
 * @param {Array<{gen: number, c2t: Uint8Array, t2c: Uint8Array}>} keys generation 0 = the queue keys
 * @param {Uint8Array[]} notes
 * @returns {Uint8Array}
 */
export function holdPayload(cid, keys, notes) {
  if (keys.length === 0 || keys.length > 10000) throw new E2EError('malformed', 'a hold carries 1 to 10000 generations');
  const sorted = [...keys].sort((a, b) => a.gen - b.gen);
  return seq('cc1 hold', cid, seq(...sorted.map((k) => seq(u64(k.gen), k.c2t, k.t2c))), seq(...notes));
}

/** @returns {{cid: string, keys: Array<{gen: number, c2t: Uint8Array, t2c: Uint8Array}>, notes: Uint8Array[]}} */
export function parseHold(data, cid) {
  const [tag, got, generations, notes] = unseq(data, 4);
  if (!equalBytes(tag, utf8.encode('cc1 hold')) || !equalBytes(got, utf8.encode(cid))) {
    throw new E2EError('malformed', 'not the hold package of this conversation');
  }
  const keys = [];
  for (const item of splitAll(generations)) {
    const [g, c2t, t2c] = unseq(item, 3);
    if (g.length !== 8 || c2t.length !== 32 || t2c.length !== 32) throw new E2EError('malformed', 'a generation is u64 and two 32-byte keys');
    const gen = readU64(g);
    if (keys.length && gen <= keys[keys.length - 1].gen) throw new E2EError('malformed', 'generations must ascend');
    keys.push({ gen, c2t: c2t.slice(), t2c: t2c.slice() });
  }
  if (keys.length === 0) throw new E2EError('malformed', 'a hold carries at least one generation');
  return { cid, keys, notes: splitAll(notes).map((n) => n.slice()) };
}

// ---------------------------------------------------------------------------
// Team bundle

/** @returns {Uint8Array} the canonical signed bytes of a team bundle */
export function bundleBytes({ team, epoch, tPub, notBefore, notAfter }) {
  return seq('cc1 bundle', SUITE, team, u64(epoch), tPub, u64(notBefore), u64(notAfter));
}

/** @returns {Promise<Uint8Array>} `bundle_hash = H(bundle_bytes)` */
export function bundleHash(fields) {
  return sha256(bundleBytes(fields));
}

/**
 * Signs a bundle with the team root key.
 * @returns {Promise<object>} the wire object {suite, team, epoch, t_pub, not_before, not_after, sig, r_pub}
 */
export async function signBundle(rPriv, rPub, { team, epoch, tPub, notBefore, notAfter }) {
  checkPointShape(tPub);
  checkPointShape(rPub);
  const sig = await sign(rPriv, bundleBytes({ team, epoch, tPub, notBefore, notAfter }));
  return {
    suite: SUITE, team, epoch, t_pub: b64encode(tPub), not_before: notBefore, not_after: notAfter,
    sig: b64encode(sig), r_pub: b64encode(rPub),
  };
}

function wireInt(value, what) {
  if (!Number.isSafeInteger(value) || value < 0) throw new E2EError('malformed', `${what} must be an integer >= 0`);
  return value;
}

/**
 * Checks a wire bundle in the order of docs/e2e.md, "The team bundle".
 * @param {object} bundle the wire object
 * @param {{pin: string|null, team: string, now?: number, minEpoch?: number}} expect
 *        pin: the snippet's pin, or null explicitly to skip (then show the safety number);
 *        now: unix ms (Date.now() if absent); minEpoch: the highest epoch this tab has seen
 * @returns {Promise<{suite, team, epoch, tPub, notBefore, notAfter, sig, rPub, bundleHash}>}
 */
export async function checkBundle(bundle, { pin: expectedPin, team, now = Date.now(), minEpoch = null }) {
  if (expectedPin === undefined) throw new TypeError('checkBundle needs pin (null to compare a safety number)');
  if (bundle === null || typeof bundle !== 'object') throw new E2EError('malformed', 'a bundle is an object');
  if (bundle.suite !== SUITE) throw new E2EError('unsupported_suite');
  if (typeof bundle.team !== 'string') throw new E2EError('malformed', 'team must be a string');
  const b = {
    suite: SUITE,
    team: bundle.team,
    epoch: wireInt(bundle.epoch, 'epoch'),
    tPub: b64decode(bundle.t_pub),
    notBefore: wireInt(bundle.not_before, 'not_before'),
    notAfter: wireInt(bundle.not_after, 'not_after'),
    sig: b64decode(bundle.sig),
    rPub: b64decode(bundle.r_pub),
  };
  await importPublicEcdh(b.tPub);
  await importPublicEcdsa(b.rPub);
  if (expectedPin !== null && (await pin(b.rPub)) !== expectedPin) throw new E2EError('pin_mismatch');
  const bytes = bundleBytes(b);
  if (!(await verify(b.rPub, bytes, b.sig))) throw new E2EError('bad_signature');
  if (b.team !== team) throw new E2EError('wrong_team');
  if (now < b.notBefore) throw new E2EError('not_yet_valid');
  if (now >= b.notAfter) throw new E2EError('expired');
  if (b.notAfter - b.notBefore > MAX_BUNDLE_WINDOW_MS) throw new E2EError('window_too_long');
  if (minEpoch !== null && b.epoch < minEpoch) throw new E2EError('epoch_rollback');
  b.bundleHash = await sha256(bytes);
  return b;
}

// ---------------------------------------------------------------------------
// Envelopes

/**
 * ECIES to `recipientPub` plus the author's signature (docs/e2e.md, "Envelopes").
 * @param {{authorPriv: CryptoKey, authorPub: Uint8Array, recipientPub: Uint8Array, purpose: string,
 *          conversation?: string, epoch: number, payload: Uint8Array|string,
 *          ephemeral?: CryptoKey|CryptoKeyPair, nonce?: Uint8Array}} e
 *        conversation: "" or absent when none; ephemeral and nonce: fresh if absent (vectors only)
 * @returns {Promise<Uint8Array>} `seq(header, ct, sig)`
 */
export async function sealEnvelope(e) {
  if (!PURPOSES.includes(e.purpose)) throw new E2EError('malformed', 'unknown envelope purpose');
  checkCounter(e.epoch, 'epoch');
  checkPointShape(e.authorPub);
  const x = e.ephemeral ?? (await generateEcdh());
  const xPriv = x.privateKey ?? x;
  const xPub = await publicBytes(x);
  const s = await ecdh(xPriv, e.recipientPub);
  const header = seq('cc1 envelope', SUITE, e.purpose, e.conversation ?? '', u64(e.epoch),
    await kid(e.recipientPub), await kid(e.authorPub), xPub);
  const k = await hkdf(s, await sha256(header), 'cc1 envelope key');
  const nonce = e.nonce ?? randomBytes();
  const payload = typeof e.payload === 'string' ? utf8.encode(e.payload) : e.payload;
  const ct = concat(nonce, await seal(k, nonce, pad(payload), header));
  const sig = await sign(e.authorPriv, seq('cc1 envelope sig', header, ct));
  return seq(header, ct, sig);
}

/**
 * Splits an envelope and checks its header's form, not its signature or contents.
 * @returns {Promise<{suite: string, purpose: string, conversation: string, epoch: number,
 *            recipientKid: Uint8Array, authorKid: Uint8Array, ephemeralPub: Uint8Array,
 *            header: Uint8Array, ct: Uint8Array, sig: Uint8Array}>}
 *          throws `malformed`, `unsupported_suite` (another tag or suite), `bad_key` (X_pub)
 */
export async function parseEnvelope(bytes) {
  const [header, ct, sig] = unseq(bytes, 3);
  const [tag, suite, purpose, conversation, epoch, recipientKid, authorKid, ephemeralPub] = unseq(header, 8);
  if (!equalBytes(tag, utf8.encode('cc1 envelope')) || !equalBytes(suite, utf8.encode(SUITE))) {
    throw new E2EError('unsupported_suite');
  }
  if (epoch.length !== 8 || recipientKid.length !== 16 || authorKid.length !== 16) {
    throw new E2EError('malformed', 'an envelope header field has the wrong size');
  }
  const env = {
    suite: SUITE, purpose: decodeText(purpose), conversation: decodeText(conversation), epoch: readU64(epoch),
    recipientKid, authorKid, ephemeralPub, header, ct, sig,
  };
  if (!PURPOSES.includes(env.purpose)) throw new E2EError('malformed', 'unknown envelope purpose');
  await importPublicEcdh(ephemeralPub);
  return env;
}

/**
 * Checks and opens an envelope: recipient and author key ids, then the author's signature,
 * then the ciphertext. The caller has checked `authorPub` against the signed roster.
 * @param {{recipientPriv: CryptoKey, recipientPub: Uint8Array, envelope: Uint8Array, authorPub: Uint8Array}} o
 * @returns {Promise<{purpose: string, conversation: string, epoch: number, payload: Uint8Array}>}
 *          throws `decrypt_failed` (for another recipient, or changed), `bad_signature` (another
 *          author, forged or changed), `malformed`, `unsupported_suite`, `bad_key`, `bad_padding`
 */
export async function openEnvelope({ recipientPriv, recipientPub, envelope, authorPub }) {
  const env = await parseEnvelope(envelope);
  if (!equalBytes(env.recipientKid, await kid(recipientPub))) throw new E2EError('decrypt_failed', 'this envelope is for another key');
  if (!equalBytes(env.authorKid, await kid(authorPub))) throw new E2EError('bad_signature', 'the envelope names another author');
  if (!(await verify(authorPub, seq('cc1 envelope sig', env.header, env.ct), env.sig))) throw new E2EError('bad_signature');
  if (env.ct.length < NONCE_BYTES + TAG_BYTES) throw new E2EError('malformed', 'an envelope is too short');
  const s = await ecdh(recipientPriv, env.ephemeralPub);
  const k = await hkdf(s, await sha256(env.header), 'cc1 envelope key');
  const payload = unpad(await open(k, env.ct.subarray(0, NONCE_BYTES), env.ct.subarray(NONCE_BYTES), env.header));
  return { purpose: env.purpose, conversation: env.conversation, epoch: env.epoch, payload };
}

// ---------------------------------------------------------------------------
// Passwords and identity keys

// Python's str.strip() set (str.isspace), which the reference implementation uses: JS trim()
// would differ on U+001C…U+001F and U+0085 (not stripped) and U+FEFF (stripped).
const SPACE = '[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const EDGE_SPACE = new RegExp(`^${SPACE}+|${SPACE}+$`, 'g');

/** A username as hashed and bound: NFKC, trimmed (as Python's str.strip()), lower case. */
export function normaliseUsername(username) {
  return username.normalize('NFKC').replace(EDGE_SPACE, '').toLowerCase();
}

/**
 * `m = PBKDF2(NFKC(password), H(seq("cc1 salt", origin, normalised username)), 600 000)`.
 * @returns {Promise<Uint8Array>} 32 bytes; about a second of work
 */
export async function deriveMaster(password, origin, username) {
  const salt = await sha256(seq('cc1 salt', origin, normaliseUsername(username)));
  return pbkdf2(password.normalize('NFKC'), salt);
}

function checkSecret(secret) {
  if (!(secret instanceof Uint8Array) || (secret.length !== 0 && secret.length !== 16)) {
    throw new E2EError('bad_parameter', 'the account secret key is 16 bytes (or empty without one)');
  }
}

/** @returns {Promise<string>} the login credential, `b64url(HKDF(m, S, "cc1 auth"))` without padding */
export async function authCredential(m, secret) {
  checkSecret(secret);
  return b64url(await hkdf(m, secret, 'cc1 auth'));
}

/** @returns {Promise<Uint8Array>} the identity unwrapping key `HKDF(m, S, "cc1 wrap")` */
export async function wrapKey(m, secret) {
  checkSecret(secret);
  return hkdf(m, secret, 'cc1 wrap');
}

function identityAd(origin, username, dhPub, sigPub) {
  return seq('cc1 identity', origin, normaliseUsername(username), dhPub, sigPub);
}

/**
 * Wraps the identity keys: `N ‖ seal(wrap, N, seq(PKCS8(I_dh), PKCS8(I_sig)), AD_id)`.
 * @param {{wrap: Uint8Array, origin: string, username: string, dhPriv: CryptoKey, sigPriv: CryptoKey,
 *          nonce?: Uint8Array}} w private keys must be extractable
 * @returns {Promise<Uint8Array>}
 */
export async function wrapIdentity({ wrap, origin, username, dhPriv, sigPriv, nonce = randomBytes() }) {
  const ad = identityAd(origin, username, await publicBytes(dhPriv), await publicBytes(sigPriv));
  const plaintext = seq(await exportPkcs8(dhPriv), await exportPkcs8(sigPriv));
  return concat(nonce, await seal(wrap, nonce, plaintext, ad));
}

/**
 * Unwraps the identity keys and checks both against the given public halves (`key_mismatch`).
 * @returns {Promise<{dhPriv: CryptoKey, sigPriv: CryptoKey}>} extractable private keys
 */
export async function unwrapIdentity({ wrap, origin, username, dhPub, sigPub, wrapped }) {
  checkPointShape(dhPub);
  checkPointShape(sigPub);
  if (wrapped.length < NONCE_BYTES + TAG_BYTES) throw new E2EError('malformed', 'the wrapped identity is too short');
  const ad = identityAd(origin, username, dhPub, sigPub);
  const plaintext = await open(wrap, wrapped.subarray(0, NONCE_BYTES), wrapped.subarray(NONCE_BYTES), ad);
  const [dh, sig] = unseq(plaintext, 2);
  const dhPriv = await importPrivateEcdh(dh);
  const sigPriv = await importPrivateEcdsa(sig);
  if (!equalBytes(await publicBytes(dhPriv), dhPub) || !equalBytes(await publicBytes(sigPriv), sigPub)) {
    throw new E2EError('key_mismatch');
  }
  return { dhPriv, sigPriv };
}

// ---------------------------------------------------------------------------
// Roster and enrolment

/**
 * Orders strings by Unicode code point, as Python's `sorted` does (and as their UTF-8 bytes
 * do); `Array.prototype.sort` alone compares UTF-16 code units, which differs once a string
 * has a character above U+FFFF.
 */
export function compareCodePoints(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i);
    const y = b.codePointAt(i);
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

function sortedMembers(members) {
  if (!Array.isArray(members)) throw new TypeError('members must be an array');
  return [...members].sort((m, n) => compareCodePoints(m.id, n.id));
}

function textField(value, what) {
  if (typeof value !== 'string') throw new E2EError('malformed', `${what} must be a string`);
  // A lone surrogate has no UTF-8 encoding (TextEncoder would silently make it U+FFFD).
  if (/[\ud800-\udfff]/u.test(value)) throw new E2EError('malformed', `${what} is not valid Unicode`);
  return value;
}

/**
 * The canonical signed bytes of a roster, members sorted by id (in any order on input):
 * `seq("cc1 roster", "cc1", team, u64(version), u64(issued_at), seq(member_1, …))` with
 * `member_i = seq(id, role, I_dh_pub, I_sig_pub, u64(since))`.
 * @param {{team: string, version: number, issuedAt: number,
 *          members: {id: string, role: string, dhPub: Uint8Array, sigPub: Uint8Array, since: number}[]}} r
 * @returns {Uint8Array}
 */
export function rosterBytes({ team, version, issuedAt, members }) {
  const body = seq(...sortedMembers(members).map((m) => seq(textField(m.id, 'id'), textField(m.role, 'role'),
    bytesOf(m.dhPub, 'dhPub'), bytesOf(m.sigPub, 'sigPub'), u64(m.since))));
  return seq('cc1 roster', SUITE, textField(team, 'team'), u64(version), u64(issuedAt), body);
}

/**
 * Signs a roster with the team root key (the admin's console).
 * @param {CryptoKey} rPriv the root ECDSA private key
 * @param {Uint8Array} rPub its 65-byte public point
 * @returns {Promise<object>} the wire object {suite, team, version, issued_at,
 *          members: [{id, role, dh_pub, sig_pub, since}] sorted by id, sig, r_pub};
 *          throws `malformed` (an unknown role, an id twice), `bad_key` (a member key)
 */
export async function signRoster(rPriv, rPub, { team, version, issuedAt, members }) {
  checkPointShape(rPub);
  const ordered = sortedMembers(members);
  for (const m of members) {
    if (!ROLES.includes(m.role)) throw new E2EError('malformed', 'unknown role');
    await importPublicEcdh(m.dhPub);
    await importPublicEcdsa(m.sigPub);
  }
  // Not in the Python reference: a roster naming an id twice would fail every check anyway.
  if (new Set(ordered.map((m) => m.id)).size !== ordered.length) throw new E2EError('malformed', 'a member appears twice');
  const sig = await sign(rPriv, rosterBytes({ team, version, issuedAt, members: ordered }));
  return {
    suite: SUITE, team, version, issued_at: issuedAt,
    members: ordered.map((m) => ({ id: m.id, role: m.role, dh_pub: b64encode(m.dhPub), sig_pub: b64encode(m.sigPub), since: m.since })),
    sig: b64encode(sig), r_pub: b64encode(rPub),
  };
}

/**
 * Checks a wire roster in the order of docs/e2e.md, "The roster", and of
 * chatserver/e2e/roster.py: suite (`unsupported_suite`); fields present and typed
 * (`malformed`); R_pub, then each member's keys (`bad_key`) and role (`malformed`); no id
 * twice (`malformed`); the pin (`pin_mismatch`); the signature (`bad_signature`); the team
 * (`wrong_team`); the version (`roster_rollback`).
 * @param {object} wire the wire object
 * @param {{pin: string|null, team: string, minVersion?: number}} expect
 *        pin: the snippet's pin, or null explicitly to skip (then show the safety number);
 *        minVersion: the highest roster version this console has seen (0 if absent)
 * @returns {Promise<{team: string, version: number, issuedAt: number,
 *          members: Map<string, {id, role, dhPub, sigPub, since}>, rPub: Uint8Array}>}
 */
export async function checkRoster(wire, { pin: expectedPin, team, minVersion = 0 }) {
  if (expectedPin === undefined) throw new TypeError('checkRoster needs pin (null to compare a safety number)');
  if (typeof team !== 'string') throw new TypeError('checkRoster needs the expected team');
  if (wire === null || typeof wire !== 'object') throw new E2EError('malformed', 'a roster is an object');
  if (wire.suite !== SUITE) throw new E2EError('unsupported_suite');
  if (!Array.isArray(wire.members)) throw new E2EError('malformed', 'members must be a list');
  const r = {
    team: textField(wire.team, 'team'),
    version: wireInt(wire.version, 'version'),
    issuedAt: wireInt(wire.issued_at, 'issued_at'),
    rPub: b64decode(wire.r_pub),
    sig: b64decode(wire.sig),
    members: wire.members.map((m) => {
      if (m === null || typeof m !== 'object') throw new E2EError('malformed', 'a member is an object');
      return {
        id: textField(m.id, 'id'), role: textField(m.role, 'role'), dhPub: b64decode(m.dh_pub),
        sigPub: b64decode(m.sig_pub), since: wireInt(m.since, 'since'),
      };
    }),
  };
  await importPublicEcdsa(r.rPub);
  for (const m of r.members) {
    await importPublicEcdh(m.dhPub);
    await importPublicEcdsa(m.sigPub);
    if (!ROLES.includes(m.role)) throw new E2EError('malformed', 'unknown role');
  }
  const members = new Map(r.members.map((m) => [m.id, m]));
  if (members.size !== r.members.length) throw new E2EError('malformed', 'a member appears twice');
  if (expectedPin !== null && (await pin(r.rPub)) !== expectedPin) throw new E2EError('pin_mismatch');
  if (!(await verify(r.rPub, rosterBytes(r), r.sig))) throw new E2EError('bad_signature');
  if (r.team !== team) throw new E2EError('wrong_team');
  if (r.version < (minVersion ?? 0)) throw new E2EError('roster_rollback');
  return { team: r.team, version: r.version, issuedAt: r.issuedAt, members, rPub: r.rPub };
}

/**
 * `enrol_bytes = seq("cc1 enrol", "cc1", team, invite_id, username, I_dh_pub, I_sig_pub)`,
 * the username normalised as for the password salt (NFKC, trimmed, lower case).
 * @param {{team: string, inviteId: string, username: string, dhPub: Uint8Array, sigPub: Uint8Array}} e
 * @returns {Uint8Array}
 */
export function enrolBytes({ team, inviteId, username, dhPub, sigPub }) {
  for (const [value, what] of [[team, 'team'], [inviteId, 'inviteId'], [username, 'username']]) {
    if (typeof value !== 'string') throw new TypeError(`${what} must be a string`);
  }
  return seq('cc1 enrol', SUITE, team, inviteId, normaliseUsername(username), bytesOf(dhPub, 'dhPub'), bytesOf(sigPub, 'sigPub'));
}

async function enrolKey(secret, fields) {
  await importPublicEcdh(fields.dhPub);
  await importPublicEcdsa(fields.sigPub);
  // The spec's s has 32 bytes (the Python reference takes any length; WebCrypto refuses none).
  if (!(secret instanceof Uint8Array) || secret.length !== ENROL_SECRET_BYTES) {
    throw new E2EError('bad_parameter', 'the invite secret is 32 bytes');
  }
  return subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

/**
 * What the new member's console sends with its public keys: `HMAC-SHA-256(s, enrol_bytes)`.
 * @param {Uint8Array} secret the invite secret `s` from the link's fragment (32 bytes)
 * @returns {Promise<Uint8Array>} 32 bytes; throws `bad_key`, `bad_parameter`
 */
export async function enrolMac(secret, fields) {
  const key = await enrolKey(secret, fields);
  return new Uint8Array(await subtle.sign('HMAC', key, enrolBytes(fields)));
}

/**
 * The admin's check before the roster names the new keys: the member's keys first
 * (`bad_key`), then the MAC, compared in constant time by WebCrypto's HMAC verify
 * (`bad_signature` when the server substituted a key, the username or the invite).
 * @returns {Promise<void>}
 */
export async function checkEnrolMac(secret, fields, mac) {
  const key = await enrolKey(secret, fields);
  const data = enrolBytes(fields);
  if (!(await subtle.verify('HMAC', key, bytesOf(mac, 'mac'), data))) {
    throw new E2EError('bad_signature', "the new member's keys do not match the invite");
  }
}
