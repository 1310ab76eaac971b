/**
 * Suite cc1 for the consoles (docs/e2e.md): the team side of the core protocol (signing
 * keys, PBKDF2, accept, rekey, signed bundles), envelopes, the legal-hold package,
 * passwords and identity keys, roster and enrolment, on top of `e2e-core.js`. Import
 * `e2e.js` for everything at once.
 *
 * @module e2e-staff
 */

import {
  E2EError,
  ENROL_SECRET_BYTES,
  PBKDF2_ITERATIONS,
  PURPOSES,
  ROLES,
  SUITE,
  b64decode,
  b64encode,
  b64url,
  bundleBytes,
  concat,
  ecdh,
  equalBytes,
  exportPkcs8,
  generateEcdh,
  hkdf,
  importPrivateEcdh,
  importPublicEcdh,
  importPublicEcdsa,
  kid,
  open,
  pad,
  pin,
  publicBytes,
  randomBytes,
  readU64,
  seal,
  seq,
  sha256,
  u64,
  unpad,
  unseq,
  verify,
  internal,
} from './e2e-core.js';

const {
  ECDSA_ALG, ECDSA_SHA256, NONCE_BYTES, TAG_BYTES, acceptAd, bytesOf, checkCounter, checkPointShape, decodeText,
  importPrivate, subtle, utf8, wireInt,
} = internal;

// ---------------------------------------------------------------------------
// The team side of the core protocol: signing keys, PBKDF2, accept, rekey, bundles.
// Only consoles and admins do these, so the widget (e2e-core.js alone) does not carry them.

/** @returns {Promise<CryptoKeyPair>} a fresh extractable P-256 ECDSA key pair */
export function generateEcdsa() {
  return subtle.generateKey(ECDSA_ALG, true, ['sign', 'verify']);
}

/** PKCS#8 DER as an ECDSA private key (extractable unless told); `bad_key` otherwise. */
export function importPrivateEcdsa(pkcs8, extractable = true) {
  return importPrivate(pkcs8, ECDSA_ALG, ['sign'], extractable);
}

/** @returns {Promise<Uint8Array>} ECDSA P-256 SHA-256 as raw `r ‖ s` (64 bytes) */
export async function sign(privEcdsa, msg) {
  return new Uint8Array(await subtle.sign(ECDSA_SHA256, privEcdsa, bytesOf(msg, 'msg')));
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
 * The text of a team's `rekey` message:
 * `seq("cc1 rekey", u64(gen), u64(sent), u64(received), u64(epoch'), E'_pub)`.
 * @returns {Promise<Uint8Array>} throws `bad_key` when ePub is not a P-256 point
 */
export async function rekeyText({ gen, sent, received, epoch, ePub }) {
  await importPublicEcdh(ePub);
  for (const [v, what] of [[gen, 'gen'], [sent, 'sent'], [received, 'received'], [epoch, 'epoch']]) checkCounter(v, what);
  return seq('cc1 rekey', u64(gen), u64(sent), u64(received), u64(epoch), ePub);
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
  const xPriv = /** @type {CryptoKeyPair} */ (x).privateKey ?? /** @type {CryptoKey} */ (x);
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
 * The one password rule, the same as the CLI's (`password_problem` in
 * chatserver/e2e/password.py): at least 12 characters (16 for an admin), at least 5 of
 * them different, counted as Unicode code points of the NFKC form the derivation hashes;
 * none of `personal` (username, name, team) in it, nor a word of them of 3 or more.
 * @param {string} password
 * @param {{admin?: boolean, personal?: string[]}} [context]
 * @returns {'short' | 'repetitive' | 'personal' | null}
 */
export function passwordProblem(password, { admin = false, personal = [] } = {}) {
  const chars = [...password.normalize('NFKC')];
  if (chars.length < (admin ? 16 : 12)) return 'short';
  if (new Set(chars).size < 5) return 'repetitive';
  const lowered = chars.join('').toLowerCase();
  for (const value of personal) {
    const v = value.normalize('NFKC').toLowerCase();
    const words = [v.replace(EDGE_SPACE, ''), ...v.split(/[^\p{L}\p{N}]+/u)];
    if (words.some((w) => [...w].length >= 3 && lowered.includes(w))) return 'personal';
  }
  return null;
}

/**
 * `m = PBKDF2(NFKC(password), H(seq("cc1 salt", salt, normalised username)), 600 000)`.
 * `salt` is the account's public salt (the installation id; the origin for accounts made
 * before it existed), so the derivation does not depend on where the page was loaded from.
 * @returns {Promise<Uint8Array>} 32 bytes; about a second of work
 */
export async function deriveMaster(password, salt, username) {
  const digest = await sha256(seq('cc1 salt', salt, normaliseUsername(username)));
  return pbkdf2(password.normalize('NFKC'), digest);
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

function identityAd(salt, username, dhPub, sigPub) {
  return seq('cc1 identity', salt, normaliseUsername(username), dhPub, sigPub);
}

/**
 * Wraps the identity keys: `N ‖ seal(wrap, N, seq(PKCS8(I_dh), PKCS8(I_sig)), AD_id)`.
 * @param {{wrap: Uint8Array, salt: string, username: string, dhPriv: CryptoKey, sigPriv: CryptoKey,
 *          nonce?: Uint8Array}} w private keys must be extractable
 * @returns {Promise<Uint8Array>}
 */
export async function wrapIdentity({ wrap, salt, username, dhPriv, sigPriv, nonce = randomBytes() }) {
  const ad = identityAd(salt, username, await publicBytes(dhPriv), await publicBytes(sigPriv));
  const plaintext = seq(await exportPkcs8(dhPriv), await exportPkcs8(sigPriv));
  return concat(nonce, await seal(wrap, nonce, plaintext, ad));
}

/**
 * Unwraps the identity keys and checks both against the given public halves (`key_mismatch`).
 * @returns {Promise<{dhPriv: CryptoKey, sigPriv: CryptoKey}>} extractable private keys
 */
export async function unwrapIdentity({ wrap, salt, username, dhPub, sigPub, wrapped }) {
  checkPointShape(dhPub);
  checkPointShape(sigPub);
  if (wrapped.length < NONCE_BYTES + TAG_BYTES) throw new E2EError('malformed', 'the wrapped identity is too short');
  const ad = identityAd(salt, username, dhPub, sigPub);
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
 * @returns {Uint8Array<ArrayBuffer>}
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
  return subtle.importKey('raw', /** @type {Uint8Array<ArrayBuffer>} */ (secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
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
