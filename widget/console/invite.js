/* The invitation page: an admin hands over /console#invite=ID&secret=S[&pin=P] off the
 * server; the new member chooses a username, a name and a password, their keys are made
 * here, and the page shows the recovery sheet with the account secret key. The fragment
 * never reaches a server; it is taken off the address bar at once. */
import { $, show, t } from './dom.js';
import * as e2e from '/widget/shared/e2e-core.js';
import * as staff from '/widget/shared/e2e-staff.js';
import { trustPin } from '/widget/shared/pins.js';
import { api, rememberSecret } from '/widget/shared/session.js';

// The link an admin hands over off the server: /console#invite=ID&secret=S[&pin=P]. The
// fragment never reaches a server; it is taken off the address bar at once.
export async function invitePage(link) {
  history.replaceState(null, '', '/console');
  const id = link.get('invite') ?? '';
  let secret;
  try {
    const text = link.get('secret').replace(/-/g, '+').replace(/_/g, '/');
    secret = e2e.b64decode(text + '='.repeat((4 - (text.length % 4)) % 4));
  } catch {
    secret = null;
  }
  show('invite');
  const status = $('invite-status');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id) || secret?.length !== 32) {
    $('invite-form').hidden = true;
    $('invite-text').textContent = t('inviteBroken');
    return;
  }
  let invite;
  try {
    invite = await api(`/api/invites/${id}`);
  } catch (err) {
    $('invite-form').hidden = true;
    $('invite-text').textContent = err.message;
    return;
  }
  if (invite.state !== 'open') {
    $('invite-form').hidden = true;
    $('invite-text').textContent = t('inviteGone', { state: invite.state });
    return;
  }
  $('invite-text').textContent = t(invite.username ? 'inviteReset' : 'inviteText', { team: invite.team, role: invite.role });
  if (invite.username) {
    // A password reset renews this account: same username, new password and keys.
    $('iv-user').value = invite.username;
    $('iv-user').readOnly = true;
    $('iv-name').focus();
  } else {
    $('iv-user').focus();
  }
  $('invite-form').onsubmit = async (event) => {
    event.preventDefault();
    const username = staff.normaliseUsername($('iv-user').value);
    const password = $('iv-pass').value;
    const admin = invite.role === 'admin';
    const weak = staff.passwordProblem(password, { admin, personal: [username, $('iv-name').value, invite.team] });
    if (weak) return (status.textContent = t({ short: admin ? 'passwordShortAdmin' : 'passwordShort', repetitive: 'passwordRepetitive', personal: 'passwordPersonal' }[weak]));
    if (password !== $('iv-pass2').value) return (status.textContent = t('passwordsDiffer'));
    const button = /** @type {HTMLButtonElement} */ ($('invite-form').querySelector('button[type=submit]'));
    button.disabled = true;
    status.textContent = '';
    $('connection').textContent = t('working');
    try {
      // Keys, account secret key and credential are made here; the server gets public
      // keys, the wrapped identity and a MAC under the invite secret (docs/e2e.md).
      const dh = await e2e.generateEcdh();
      const sig = await staff.generateEcdsa();
      const accountSecret = e2e.randomBytes(16);
      const m = await staff.deriveMaster(password, invite.salt, username);
      const dhPub = await e2e.publicBytes(dh);
      const sigPub = await e2e.publicBytes(sig);
      const body = {
        username,
        name: $('iv-name').value.trim(),
        credential: await staff.authCredential(m, accountSecret),
        dh_pub: e2e.b64encode(dhPub),
        sig_pub: e2e.b64encode(sigPub),
        wrapped: e2e.b64encode(await staff.wrapIdentity({ wrap: await staff.wrapKey(m, accountSecret), salt: invite.salt, username, dhPriv: dh.privateKey, sigPriv: sig.privateKey })),
        mac: e2e.b64encode(await staff.enrolMac(secret, { team: invite.team, inviteId: id, username, dhPub, sigPub })),
      };
      await api(`/api/invites/${id}/enrol`, { method: 'POST', body });
      rememberSecret(username, accountSecret);
      if (link.get('pin')) trustPin(invite.team, link.get('pin'));
      $('iv-pass').value = $('iv-pass2').value = '';
      $('invite-form').hidden = true;
      $('rc-user').textContent = username;
      $('rc-team').textContent = invite.team;
      $('rc-secret').textContent = e2e.b64encode(accountSecret).replace(/(.{4})/g, '$1 ').trim();
      $('recovery').hidden = false;
      $('rc-print').focus();
    } catch (err) {
      status.textContent = err.message;
    } finally {
      button.disabled = false;
      $('connection').textContent = '';
    }
  };
}

$('rc-print').addEventListener('click', () => window.print());
