/**
 * Suite cc1 on WebCrypto alone (docs/e2e.md, byte for byte): what a client needs. The
 * consoles load `e2e.js`, which adds `e2e-staff.js`. No DOM, storage, network or
 * dependency; a failed check throws an E2EError with a stable `reason`
 * (chatserver/e2e/errors.py).
 * @module e2e-core
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
export const PURPOSES = Object.freeze(['conv_key', 'team_key', 'note', 'handover', 'hold', 'root_key']);
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

/** @returns {Uint8Array<ArrayBuffer>} the concatenation of byte arrays */
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

/** @returns {Uint8Array<ArrayBuffer>} */
function bytesOf(x, what) {
  if (x instanceof Uint8Array) return /** @type {Uint8Array<ArrayBuffer>} */ (x);
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
 * @returns {Uint8Array<ArrayBuffer>}
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

/**
 * The 65-byte uncompressed point of a key pair, a public key, or an extractable private key.
 * @param {CryptoKey|CryptoKeyPair} key
 * @returns {Promise<Uint8Array>}
 */
export async function publicBytes(key) {
  const k = /** @type {any} */ (key).publicKey || key;
  if (k.type === 'public') return new Uint8Array(await subtle.exportKey('raw', k));
  const jwk = await subtle.exportKey('jwk', k);
  return concat(Uint8Array.of(4), b64urlDecode(jwk.x), b64urlDecode(jwk.y));
}

function b64urlDecode(text) {
  const std = text.replace(/-/g, '+').replace(/_/g, '/');
  return b64decode(std + '='.repeat((4 - (std.length % 4)) % 4));
}

// On P-256 (y^2 = x^3 - 3x + b): not every engine's importKey checks (docs/e2e.md, Engines)
const P = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
const bigOf = (b) => BigInt(`0x${Array.from(b, (v) => v.toString(16).padStart(2, '0')).join('')}`);

function checkPointShape(bytes) {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 65 || bytes[0] !== 4) {
    throw new E2EError('bad_key', 'a public key must be a 65-byte uncompressed P-256 point');
  }
  const x = bigOf(bytes.subarray(1, 33));
  const y = bigOf(bytes.subarray(33));
  if (x >= P || y >= P || (y * y - x * x * x + 3n * x - B) % P) throw new E2EError('bad_key', 'not a point on P-256');
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
  return subtle.importKey('raw', /** @type {Uint8Array<ArrayBuffer>} */ (key32), 'AES-GCM', false, [usage]);
}

function gcm(nonce12, ad) {
  if (!(nonce12 instanceof Uint8Array) || nonce12.length !== NONCE_BYTES) {
    throw new E2EError('malformed', 'a nonce must be 12 bytes');
  }
  return { name: 'AES-GCM', iv: /** @type {Uint8Array<ArrayBuffer>} */ (nonce12), additionalData: bytesOf(ad, 'ad'), tagLength: 128 };
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

/** @returns {Promise<boolean>} whether `sig64` is a valid signature; a bad key throws `bad_key` */
export async function verify(pub65, msg, sig64) {
  const key = await importPublicEcdsa(pub65);
  if (!(sig64 instanceof Uint8Array) || sig64.length !== 64) return false;
  try {
    return await subtle.verify(ECDSA_SHA256, key, /** @type {Uint8Array<ArrayBuffer>} */ (sig64), bytesOf(msg, 'msg'));
  } catch {
    return false;
  }
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
 * @returns {Promise<{data: Uint8Array, text: string, ack: number}>} throws `decrypt_failed`
 *          (any bound field, the key or a byte changed), `bad_padding`, `malformed` (also: the text
 *          of a `msg` is not UTF-8; for other kinds reading `text` throws that instead)
 */
export async function decryptMessage(m) {
  checkMessageFields(m);
  const body = m.body;
  if (body.length < NONCE_BYTES + TAG_BYTES) throw new E2EError('malformed', 'a message body is too short');
  const plaintext = await open(m.key, body.subarray(0, NONCE_BYTES), body.subarray(NONCE_BYTES), messageAd(m));
  const [data, ack] = unseq(unpad(plaintext), 2);
  // A `msg` carries UTF-8 text; `close` and `rekey` carry bytes, decoded only when read.
  const text = m.kind === 'msg' ? decodeText(data) : null;
  return { data: data.slice(), ack: readU64(ack), get text() { return text ?? decodeText(data); } };
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
// Team bundle

/** @returns {Uint8Array} the canonical signed bytes of a team bundle */
export function bundleBytes({ team, epoch, tPub, notBefore, notAfter }) {
  return seq('cc1 bundle', SUITE, team, u64(epoch), tPub, u64(notBefore), u64(notAfter));
}

/** @returns {Promise<Uint8Array>} `bundle_hash = H(bundle_bytes)` */
export function bundleHash(fields) {
  return sha256(bundleBytes(fields));
}

function wireInt(value, what) {
  if (!Number.isSafeInteger(value) || value < 0) throw new E2EError('malformed', `${what} must be an integer >= 0`);
  return value;
}

/**
 * Checks a wire bundle in the order of docs/e2e.md, "The team bundle".
 * @param {object} bundle the wire object
 * @param {{pin: string|null, team: string, now?: number, minEpoch?: number|null}} expect
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
    bundleHash: null,
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

/** Building blocks `e2e-staff.js` shares with this module; not an API for applications. */
export const internal = Object.freeze({
  ECDSA_ALG, ECDSA_SHA256, NONCE_BYTES, TAG_BYTES, acceptAd, bytesOf, checkCounter, checkPointShape, decodeText,
  importPrivate, subtle, utf8, wireInt,
});
