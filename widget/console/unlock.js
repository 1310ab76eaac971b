/* Unlocking the duty console's keys after sign-in, no DOM (docs/e2e.md, "Passwords and
 * identity keys"): the member's identity, checked against each team's signed roster, and
 * each team's epoch keys. Keys live in this page's memory only. */
import * as e2e from '/widget/shared/e2e-core.js';
import * as staff from '/widget/shared/e2e-staff.js';
import { Problem } from '/widget/chat-core.js';
import { loadPins, place, savePins } from '/widget/shared/pins.js';
import { api } from '/widget/shared/session.js';

/**
 * @typedef {object} UnlockedKeys what unlock() gives: this member's keys and teams
 * @property {CryptoKey} dhPriv
 * @property {CryptoKey} sigPriv
 * @property {Uint8Array} sigPub
 * @property {Map<string, {roster: any, epochs: Map<number, {tPriv: CryptoKey, bundle: any}>, safety: string}>} teams
 */

/**
 * Unlocks the signed-in member's keys: the identity (unwrapped with the password's wrap
 * key and checked against the signed roster of each team), then each team's epoch keys
 * (envelopes from an admin the roster names, checked against the epoch's signed bundle).
 * A team root key is pinned on this device the first time (its safety number is shown);
 * another one later is refused with `pin_mismatch` until the person trusts it.
 * @returns {Promise<UnlockedKeys>}
 */
export async function unlock(me, wrap) {
  const identity = await api('/api/me/identity');
  const dhPub = e2e.b64decode(identity.dh_pub);
  const sigPub = e2e.b64decode(identity.sig_pub);
  const keys = await staff.unwrapIdentity({
    wrap, salt: me.staff.salt, username: me.staff.username, dhPub, sigPub, wrapped: e2e.b64decode(identity.wrapped),
  });
  const pins = loadPins();
  const teams = new Map();
  for (const slug of me.teams) {
    const known = pins[place(slug)];
    const wire = await api(`/api/teams/${encodeURIComponent(slug)}/roster`);
    let roster;
    try {
      roster = await staff.checkRoster(wire, { pin: known?.pin ?? null, team: slug, minVersion: known?.version ?? 0 });
    } catch (err) {
      if (err.reason === 'pin_mismatch') {
        const rPub = e2e.b64decode(wire.r_pub);
        throw Object.assign(new Problem('pinMismatch'), { team: slug, pin: await e2e.pin(rPub), safety: await e2e.safetyNumber(rPub) });
      }
      throw err;
    }
    const mine = roster.members.get(me.staff.id);
    if (!mine || !e2e.equalBytes(mine.dhPub, dhPub) || !e2e.equalBytes(mine.sigPub, sigPub)) throw new Problem('notInRoster');
    pins[place(slug)] = { pin: await e2e.pin(roster.rPub), version: roster.version };
    const epochs = new Map();
    for (const item of await api(`/api/teams/${encodeURIComponent(slug)}/team-keys/mine`)) {
      const author = roster.members.get(item.author);
      if (!author || author.role !== 'admin') continue; // only admins wrap team keys
      const env = await staff.openEnvelope({ recipientPriv: keys.dhPriv, recipientPub: dhPub, envelope: e2e.b64decode(item.body), authorPub: author.sigPub });
      if (env.purpose !== 'team_key' || env.epoch !== item.epoch) throw new Problem('tampering');
      const bundleWire = await api(`/api/teams/${encodeURIComponent(slug)}/bundle?epoch=${item.epoch}`);
      // The bundle's window is checked by the client; here its signature, team and root.
      const bundle = await e2e.checkBundle(bundleWire, { pin: pins[place(slug)].pin, team: slug, now: bundleWire.not_before });
      // Extractable only for this check of its public half; the key kept is not: the
      // console never exports a team key (issue 21, L2).
      const pub = await e2e.publicBytes(await e2e.importPrivateEcdh(env.payload));
      if (bundle.epoch !== item.epoch || !e2e.equalBytes(pub, bundle.tPub)) throw new Problem('tampering');
      const tPriv = await e2e.importPrivateEcdh(env.payload, false);
      epochs.set(item.epoch, { tPriv, bundle });
    }
    teams.set(slug, { roster, epochs, safety: await e2e.safetyNumber(roster.rPub) });
  }
  savePins(pins);
  return { dhPriv: keys.dhPriv, sigPriv: keys.sigPriv, sigPub, teams };
}
