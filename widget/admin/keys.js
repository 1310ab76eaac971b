/* The admin's browser as docs/e2e.md needs it, no DOM: the admin's identity (made here the
 * first time for an account the CLI created), each team's signed roster checked against
 * the root pin this device keeps, the team root key (a `root_key` envelope only this
 * admin's identity opens), the epoch keys; and what only the root key may do: set up a
 * new team's keys, sign the next roster (approve an enrolment after checking its MAC, add
 * a colleague, change a role, remove a member), issue epochs ahead of time and re-issue
 * them after a removal, wrap the root key to another admin. It mirrors chatserver/ops/demo.py
 * and the tests' admin browsers (tests/server/test_enrolment.py), check for check.
 *
 * Private keys live in this page's memory only. The one thing kept on the device is each
 * invitation's secret, sealed under a key derived from the admin's password, because the
 * MAC of the enrolment that answers it can only be checked with it (days later). */
import * as e2e from '/widget/shared/e2e-core.js';
import * as staff from '/widget/shared/e2e-staff.js';
import { loadPins, place, trustPin } from '/widget/shared/pins.js';
import { api } from '/widget/shared/session.js';

export const DAY = 86_400_000;
export const EPOCH_DAYS = 14; // epochs issued at a time, one per day
export const TOP_UP_DAYS = 7; // issue more when fewer days than this are covered
const SKEW = 60_000; // an epoch starts a minute early: clocks differ
const INVITES = 'cc-admin-invites'; // sealed invitation secrets, per invite id
const UPLOAD = 1000; // envelopes per request (the server takes up to 2000)

/** Something the admin must see and decide on; `code` names it for the page's texts. */
export class KeyProblem extends Error {
  /**
   * @param {string} code a key of the pages' texts
   * @param {{team?: string, pin?: string, safety?: string, reason?: string}} [detail]
   */
  constructor(code, detail = {}) {
    super(code);
    this.code = code;
    Object.assign(this, detail);
    // Declared for the type checker only (Object.assign above sets those given).
    /** @type {string | undefined} */ this.team;
    /** @type {string | undefined} */ this.pin;
    /** @type {string | undefined} */ this.safety;
    /** @type {string | undefined} */ this.reason;
  }
}

const enc = (s) => encodeURIComponent(s);

// ---------------------------------------------------------------------------
// The admin's identity

/**
 * Unwraps the admin's identity keys with the password's wrap key; an account without any
 * (made by `chatserver user add`) gets them here, wrapped under the same password.
 * @returns {Promise<{me, dhPriv, sigPriv, dhPub, sigPub, created: boolean, sealKey, csrf: string}>}
 */
export async function unlockIdentity(me, wrap) {
  let created = false;
  let identity = await ownIdentity();
  if (identity === null) {
    const dh = await e2e.generateEcdh();
    const sig = await staff.generateEcdsa();
    const wrapped = await staff.wrapIdentity({ wrap, salt: me.staff.salt, username: me.staff.username, dhPriv: dh.privateKey, sigPriv: sig.privateKey });
    const body = { dh_pub: e2e.b64encode(await e2e.publicBytes(dh)), sig_pub: e2e.b64encode(await e2e.publicBytes(sig)), wrapped: e2e.b64encode(wrapped) };
    await call(me.csrf, '/api/me/identity', 'POST', body);
    identity = body;
    created = true;
  }
  const dhPub = e2e.b64decode(identity.dh_pub);
  const sigPub = e2e.b64decode(identity.sig_pub);
  const keys = await staff.unwrapIdentity({
    wrap, salt: me.staff.salt, username: me.staff.username, dhPub, sigPub, wrapped: e2e.b64decode(identity.wrapped),
  });
  const sealKey = await e2e.hkdf(wrap, e2e.concat(), 'cc1 admin invites');
  return { me, dhPriv: keys.dhPriv, sigPriv: keys.sigPriv, dhPub, sigPub, created, sealKey, csrf: me.csrf };
}

/** The account's stored identity (public keys and the wrapped private ones), or null. */
async function ownIdentity() {
  try {
    return await api('/api/me/identity');
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
}

/** The shared `api` (session.js) with this admin's CSRF token on writes. */
function call(csrf, path, method = 'GET', body) {
  return api(path, method === 'GET' ? {} : { method, body, csrf });
}

// ---------------------------------------------------------------------------
// A team's keys as this admin holds them

/**
 * Reads a team's key state: the roster (checked against the pin this device keeps; the
 * first one seen is pinned), this admin's place in it, the root key (opened only from an
 * admin the roster names, and only if it is the roster's root), the epoch keys (each
 * against its signed bundle) and how far the epochs reach.
 * @returns {Promise<{slug, roster, member, rPriv, rPub, pin, safety, epochs: Map, status}>}
 *   roster null: no keys yet (setUpTeam); member null: this admin is not in the roster;
 *   rPriv null: the root key is not wrapped to this admin.
 *   Throws KeyProblem 'pinMismatch' (with pin and safety of the new root) or 'tampering'.
 */
export async function openTeam(keys, slug) {
  const team = { slug, roster: null, member: null, rPriv: null, rPub: null, pin: null, safety: null, epochs: new Map(), status: null };
  let wire;
  try {
    wire = await call(keys.csrf, `/api/teams/${enc(slug)}/roster`);
  } catch (err) {
    if (err.status === 404 && err.code === 'not_found') return team;
    throw err;
  }
  const known = loadPins()[place(slug)];
  try {
    team.roster = await staff.checkRoster(wire, { pin: known?.pin ?? null, team: slug, minVersion: known?.version ?? 0 });
  } catch (err) {
    if (err.reason === 'pin_mismatch') {
      const rPub = e2e.b64decode(wire.r_pub);
      throw new KeyProblem('pinMismatch', { team: slug, pin: await e2e.pin(rPub), safety: await e2e.safetyNumber(rPub) });
    }
    throw new KeyProblem('tampering', { team: slug, reason: err.reason ?? err.message });
  }
  team.rPub = team.roster.rPub;
  team.pin = await e2e.pin(team.rPub);
  team.safety = await e2e.safetyNumber(team.rPub);
  trustPin(slug, team.pin, team.roster.version);
  const mine = team.roster.members.get(keys.me.staff.id);
  if (mine && e2e.equalBytes(mine.dhPub, keys.dhPub) && e2e.equalBytes(mine.sigPub, keys.sigPub)) team.member = mine;
  team.status = await call(keys.csrf, `/api/teams/${enc(slug)}/epochs`);
  if (!team.member) return team;
  try {
    const root = await call(keys.csrf, `/api/teams/${enc(slug)}/root-key/mine`);
    const author = team.roster.members.get(root.author);
    if (!author || author.role !== 'admin') throw new KeyProblem('tampering', { team: slug, reason: 'root key from someone not an admin' });
    const env = await staff.openEnvelope({ recipientPriv: keys.dhPriv, recipientPub: keys.dhPub, envelope: e2e.b64decode(root.body), authorPub: author.sigPub });
    if (env.purpose !== 'root_key' || env.conversation !== '') throw new KeyProblem('tampering', { team: slug, reason: 'not a root key envelope' });
    const rPriv = await staff.importPrivateEcdsa(env.payload);
    if (!e2e.equalBytes(await e2e.publicBytes(rPriv), team.rPub)) throw new KeyProblem('tampering', { team: slug, reason: 'key_mismatch' });
    team.rPriv = rPriv;
  } catch (err) {
    if (!(err.status === 404)) throw err;
  }
  for (const item of await call(keys.csrf, `/api/teams/${enc(slug)}/team-keys/mine`)) {
    const author = team.roster.members.get(item.author);
    if (!author || author.role !== 'admin') continue; // only admins wrap team keys
    const env = await staff.openEnvelope({ recipientPriv: keys.dhPriv, recipientPub: keys.dhPub, envelope: e2e.b64decode(item.body), authorPub: author.sigPub });
    if (env.purpose !== 'team_key' || env.epoch !== item.epoch) throw new KeyProblem('tampering', { team: slug, reason: 'team key envelope' });
    const tPriv = await e2e.importPrivateEcdh(env.payload);
    const bundleWire = await call(keys.csrf, `/api/teams/${enc(slug)}/bundle?epoch=${item.epoch}`);
    const bundle = await e2e.checkBundle(bundleWire, { pin: team.pin, team: slug, now: bundleWire.not_before });
    if (bundle.epoch !== item.epoch || !e2e.equalBytes(await e2e.publicBytes(tPriv), bundle.tPub)) throw new KeyProblem('tampering', { team: slug, reason: 'key_mismatch' });
    team.epochs.set(item.epoch, { tPriv, bundle });
  }
  return team;
}

function members(team) {
  return [...team.roster.members.values()];
}

function needRoot(team) {
  if (!team.rPriv) throw new KeyProblem('noRootKey', { team: team.slug });
}

/** Signs and uploads the next roster with `list` as its members. */
async function signNext(keys, team, list, path = `/api/teams/${enc(team.slug)}/roster`, extra = {}) {
  needRoot(team);
  const version = (team.roster?.version ?? 0) + 1;
  const wire = await staff.signRoster(team.rPriv, team.rPub, { team: team.slug, version, issuedAt: Date.now(), members: list });
  const answer = await call(keys.csrf, path, 'POST', { roster: wire, ...extra });
  team.roster = await staff.checkRoster(wire, { pin: team.pin, team: team.slug, minVersion: version });
  trustPin(team.slug, team.pin, version);
  return answer;
}

async function sealTo(keys, recipient, purpose, epoch, payload) {
  return e2e.b64encode(await staff.sealEnvelope({ authorPriv: keys.sigPriv, authorPub: keys.sigPub, recipientPub: recipient.dhPub, purpose, epoch, payload }));
}

/** Seals epoch keys to members and uploads them in batches. */
async function wrapEpochs(keys, team, recipients, epochNumbers) {
  const envelopes = [];
  for (const epoch of epochNumbers) {
    const payload = await e2e.exportPkcs8(team.epochs.get(epoch).tPriv);
    for (const member of recipients) envelopes.push({ recipient: member.id, epoch, body: await sealTo(keys, member, 'team_key', epoch, payload) });
  }
  for (let i = 0; i < envelopes.length; i += UPLOAD) {
    await call(keys.csrf, `/api/teams/${enc(team.slug)}/team-keys`, 'POST', { envelopes: envelopes.slice(i, i + UPLOAD) });
  }
  return envelopes.length;
}

/**
 * New epochs, one per day for `days` days from `start`, numbered above every epoch the
 * team has; bundles signed with the root key, each key wrapped to every member.
 */
async function issueEpochs(keys, team, start, days = EPOCH_DAYS) {
  needRoot(team);
  const status = await call(keys.csrf, `/api/teams/${enc(team.slug)}/epochs`);
  const bundles = [];
  const fresh = [];
  for (let day = 0; day < days; day++) {
    const pair = await e2e.generateEcdh();
    const epoch = status.top_epoch + 1 + day;
    const notBefore = start + day * DAY;
    const wire = await staff.signBundle(team.rPriv, team.rPub, { team: team.slug, epoch, tPub: await e2e.publicBytes(pair), notBefore, notAfter: notBefore + DAY });
    bundles.push(wire);
    team.epochs.set(epoch, { tPriv: pair.privateKey, bundle: await e2e.checkBundle(wire, { pin: team.pin, team: team.slug, now: notBefore }) });
    fresh.push(epoch);
  }
  await call(keys.csrf, `/api/teams/${enc(team.slug)}/bundles`, 'POST', { bundles });
  await wrapEpochs(keys, team, members(team), fresh);
  team.status = await call(keys.csrf, `/api/teams/${enc(team.slug)}/epochs`);
  return fresh;
}

// ---------------------------------------------------------------------------
// What the root key does

/**
 * A new team's keys: a fresh root key (pinned on this device), the first roster naming
 * this admin, epochs for the next days, the root key wrapped to this admin.
 */
export async function setUpTeam(keys, slug) {
  const pair = await staff.generateEcdsa();
  const team = { slug, roster: null, member: null, rPriv: pair.privateKey, rPub: await e2e.publicBytes(pair), epochs: new Map(), status: null };
  team.pin = await e2e.pin(team.rPub);
  team.safety = await e2e.safetyNumber(team.rPub);
  const me = { id: keys.me.staff.id, role: 'admin', dhPub: keys.dhPub, sigPub: keys.sigPub, since: Date.now() };
  await signNext(keys, team, [me]);
  team.member = team.roster.members.get(me.id);
  await wrapRootTo(keys, team, [team.member]);
  await issueEpochs(keys, team, Date.now() - SKEW);
  return team;
}

/** The root key as a `root_key` envelope to each of these admins (members of the roster). */
export async function wrapRootTo(keys, team, admins) {
  needRoot(team);
  const payload = await e2e.exportPkcs8(team.rPriv);
  const envelopes = [];
  for (const admin of admins) envelopes.push({ recipient: admin.id, body: await sealTo(keys, admin, 'root_key', 0, payload) });
  return call(keys.csrf, `/api/teams/${enc(team.slug)}/root-keys`, 'POST', { envelopes });
}

/** Epochs ahead when fewer than TOP_UP_DAYS days are covered; returns the new epochs. */
export async function topUp(keys, team, force = false) {
  const now = Date.now();
  const until = team.status?.covered_until ?? null;
  if (!force && until !== null && until - now >= TOP_UP_DAYS * DAY) return [];
  return issueEpochs(keys, team, Math.max(until ?? 0, now - SKEW));
}

function liveEpochs(team) {
  const now = Date.now();
  return [...team.epochs.entries()].filter(([, e]) => e.bundle.notAfter > now).map(([n]) => n).sort((a, b) => a - b);
}

/** Adds a colleague whose keys a roster this device checked names (another team's). */
export async function addMember(keys, team, colleague) {
  const list = members(team).filter((m) => m.id !== colleague.id);
  const member = { id: colleague.id, role: colleague.role, dhPub: colleague.dhPub, sigPub: colleague.sigPub, since: Date.now() };
  await signNext(keys, team, [...list, member]);
  await wrapEpochs(keys, team, [member], liveEpochs(team));
  if (member.role === 'admin') await wrapRootTo(keys, team, [member]);
}

/** A member's role in the roster (the account's role is changed on the server as well). */
export async function changeRole(keys, team, staffId, role) {
  const list = members(team).map((m) => (m.id === staffId ? { ...m, role } : m));
  await signNext(keys, team, list);
  if (role === 'admin') await wrapRootTo(keys, team, [team.roster.members.get(staffId)]);
}

/**
 * Removes a member: the next roster without them (the server then ends their membership
 * and requeues their chats), then new epochs from now, wrapped only to who remains,
 * because the member still holds the keys of the epochs issued ahead (docs/e2e.md,
 * "Removing a member").
 */
export async function removeMember(keys, team, staffId) {
  if (staffId === keys.me.staff.id) throw new KeyProblem('removeSelf');
  await signNext(keys, team, members(team).filter((m) => m.id !== staffId));
  for (const [epoch, e] of team.epochs) if (e.bundle.notAfter > Date.now()) team.epochs.delete(epoch);
  return issueEpochs(keys, team, Date.now() - SKEW);
}

// ---------------------------------------------------------------------------
// Invitations

function loadInvites() {
  try {
    return JSON.parse(localStorage.getItem(INVITES) ?? '{}');
  } catch {
    return {};
  }
}

async function keepSecret(keys, invite, secret, expires) {
  const nonce = e2e.randomBytes();
  const sealed = await e2e.seal(keys.sealKey, nonce, secret, e2e.seq('cc1 admin invite', keys.me.staff.id, invite));
  const all = loadInvites();
  const now = Date.now();
  for (const [id, v] of Object.entries(all)) if (v.expires < now) delete all[id];
  all[invite] = { by: keys.me.staff.id, expires, sealed: e2e.b64encode(e2e.concat(nonce, sealed)) };
  localStorage.setItem(INVITES, JSON.stringify(all));
}

/** The invitation's secret if it was made on this device by this admin, else null. */
export async function inviteSecret(keys, invite) {
  const kept = loadInvites()[invite];
  if (!kept || kept.by !== keys.me.staff.id) return null;
  const raw = e2e.b64decode(kept.sealed);
  try {
    return await e2e.open(keys.sealKey, raw.subarray(0, 12), raw.subarray(12), e2e.seq('cc1 admin invite', keys.me.staff.id, invite));
  } catch {
    return null;
  }
}

function forgetSecret(invite) {
  const all = loadInvites();
  delete all[invite];
  localStorage.setItem(INVITES, JSON.stringify(all));
}

/**
 * A one-time invitation: the server makes the id, this browser the 32-byte secret. The
 * link carries both (and the team's pin) in its fragment, which never reaches a server.
 * @returns {Promise<{invite, link, expires}>}
 */
export async function makeInvite(keys, team, role, hours) {
  const made = await call(keys.csrf, `/api/teams/${enc(team.slug)}/invites`, 'POST', hours ? { role, hours } : { role });
  return inviteLink(keys, team, made, hours);
}

/**
 * A forgotten password: the account's old keys are lost with it. The server ends its
 * sessions and requeues its chats; the answer is an invitation to enrol the same account
 * again (new password, new keys), approved here like a new one.
 */
export async function resetPassword(keys, team, staffId, hours) {
  const made = await call(keys.csrf, `/api/admin/staff/${enc(staffId)}/reset-password`, 'POST', { team: team.slug, hours });
  return inviteLink(keys, team, made, hours);
}

async function inviteLink(keys, team, made, hours) {
  const secret = e2e.randomBytes(32);
  const expires = made.expires_at ?? Date.now() + (hours ?? 72) * 3_600_000;
  await keepSecret(keys, made.invite, secret, expires);
  const link = `${location.origin}/console#invite=${enc(made.invite)}&secret=${e2e.b64url(secret)}&pin=${enc(team.pin)}`;
  return { invite: made.invite, link, expires };
}

/**
 * Approves an enrolment: its MAC under the invitation's secret first (a server that
 * swapped the keys, the name or the invitation is caught), then the roster naming the new
 * keys, then the live epoch keys (and for an admin the root key) wrapped to them. The
 * secret is the one this device kept, or `given` (taken from the link by the admin).
 */
export async function approve(keys, team, pending, given = null) {
  const secret = given ?? (await inviteSecret(keys, pending.invite));
  if (!secret) throw new KeyProblem('otherDevice');
  const dhPub = e2e.b64decode(pending.dh_pub);
  const sigPub = e2e.b64decode(pending.sig_pub);
  try {
    await staff.checkEnrolMac(secret, { team: team.slug, inviteId: pending.invite, username: pending.username, dhPub, sigPub }, e2e.b64decode(pending.mac));
  } catch (err) {
    throw new KeyProblem('badEnrolment', { reason: err.reason ?? err.message });
  }
  const member = { id: pending.staff, role: pending.role, dhPub, sigPub, since: Date.now() };
  // A renewed account (password reset) replaces its old keys in the list.
  const others = members(team).filter((m) => m.id !== member.id);
  await signNext(keys, team, [...others, member], `/api/teams/${enc(team.slug)}/enrolments/${enc(pending.invite)}/approve`);
  forgetSecret(pending.invite);
  await wrapEpochs(keys, team, [member], liveEpochs(team));
  if (member.role === 'admin') await wrapRootTo(keys, team, [member]);
  return member;
}

/** A team's keys, read once per page life (`fresh` reads them again). */
export async function teamKeys(keys, slug, fresh = false) {
  keys.open ??= new Map();
  if (fresh || !keys.open.has(slug)) keys.open.set(slug, await openTeam(keys, slug));
  return keys.open.get(slug);
}

/** Remembers a team whose keys were set up or changed here. */
export function keepTeam(keys, team) {
  keys.open ??= new Map();
  keys.open.set(team.slug, team);
}
