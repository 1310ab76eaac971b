/* Signing in to the duty console and unlocking its keys: the sign-in form (password, code
 * and, once per device, the account secret key), the unlock after a reload, the first
 * sign-in's TOTP enrolment, the warning about a changed team key, and signing out. The
 * end-to-end part is /widget/shared/session.js and unlock.js. */
import { Drafts } from './drafts.js';
import { $, resetPage, show, t, takeNotice } from './dom.js';
import { invitePage } from './invite.js';
import { wakeAudio } from './notices.js';
import { startDesk } from './socket.js';
import { set, state, update } from './store.js';
import { unlock } from './unlock.js';
import { trustPin } from '/widget/shared/pins.js';
import { api, currentStaff, derive, deviceSecret, signIn } from '/widget/shared/session.js';


/** Where a page that has just loaded starts: an invitation, the sign-in or the unlock. */
export async function boot() {
  const link = new URLSearchParams(location.hash.slice(1));
  if (link.has('invite')) return invitePage(link);
  const notice = takeNotice();
  set({ me: await currentStaff() });
  if (!state.me) {
    show('signin');
    if (notice) $('signin-status').textContent = t(notice);
    return;
  }
  $('unlock-text').textContent = t('unlockText', { name: state.me.staff.name });
  $('ul-user').value = state.me.staff.username;
  show('unlock');
  if (notice) $('unlock-status').textContent = t(notice);
}

function errorText(err) {
  if (err.status === 429) return t('throttled');
  if (err.status === 401) return t('wrongLogin');
  return err.message || String(err);
}

$('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const status = $('signin-status');
  const username = $('si-user').value.trim();
  const password = $('si-pass').value;
  if (!username || !password) {
    status.textContent = t('wrongLogin');
    return;
  }
  wakeAudio();
  const button = /** @type {HTMLButtonElement} */ (event.submitter ?? $('signin-form').querySelector('button[type=submit]'));
  button.disabled = true;
  status.textContent = '';
  $('signin-status').setAttribute('aria-busy', 'true');
  const working = $('connection');
  working.textContent = t('working');
  try {
    const wrap = await signIn(username, password, $('si-secret').value, $('si-code').value.trim());
    set({ me: await api('/api/me') });
    $('si-pass').value = '';
    await afterLogin(wrap);
  } catch (err) {
    status.textContent = err.code === 'badSecret' ? t('secret') : errorText(err);
  } finally {
    working.textContent = '';
    button.disabled = false;
    $('signin-status').removeAttribute('aria-busy');
  }
});

$('unlock-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  wakeAudio();
  const status = $('unlock-status');
  const button = /** @type {HTMLButtonElement} */ ($('unlock-form').querySelector('button[type=submit]'));
  button.disabled = true;
  status.textContent = '';
  $('connection').textContent = t('working');
  try {
    const { wrap } = await derive($('ul-pass').value, state.me.staff.username, deviceSecret(state.me.staff.username), state.me.staff.salt);
    $('ul-pass').value = '';
    await afterLogin(wrap);
  } catch (err) {
    status.textContent = err.reason === 'decrypt_failed' || err.reason === 'key_mismatch' ? t('wrongPassword') : errorText(err);
  } finally {
    $('connection').textContent = '';
    button.disabled = false;
  }
});

export async function afterLogin(wrap) {
  if (state.me.totp === false && state.me.totp_required) return enrolTotp(wrap);
  if (!state.me.teams.length) throw new Error(t('noTeams'));
  try {
    set({ keys: await unlock(state.me, wrap) });
  } catch (err) {
    if (err.code === 'pinMismatch') return pinWarning(err, wrap);
    if (err.code === 'notInRoster') throw new Error(t('notInRoster'));
    throw err;
  }
  set({ drafts: await Drafts.open(wrap, state.me.staff.id) });
  await loadNames();
  startDesk();
}

// The names of the teams' members, for notes, handovers and messages by colleagues who
// are not on duty now (presence frames name those who are), and of the teams' topics.
async function loadNames() {
  for (const team of state.me.teams) {
    const slug = encodeURIComponent(team);
    try {
      const data = await api(`/api/teams/${slug}/people`);
      update((s) => {
        for (const p of data.people) s.people.set(p.id, p.name);
      });
      const status = await api(`/api/teams/${slug}/status?lang=${state.lang}`);
      update((s) => {
        for (const topic of status.topics ?? []) s.topics.set(`${team} ${topic.slug}`, topic.name);
      });
    } catch {
      // names are a convenience: without them a colleague is "a former colleague" and a
      // topic goes by its short name
    }
  }
}

async function enrolTotp(wrap) {
  const started = await api('/api/me/totp', { method: 'POST', body: {}, csrf: state.me.csrf });
  const qr = await import('./qr.js');
  $('totp-qr').replaceChildren(qr.toSvgElement(qr.encode(started.uri), { title: t('totpTitle') }));
  $('totp-secret').textContent = started.secret.replace(/(.{4})/g, '$1 ').trim();
  show('totp');
  $('totp-form').onsubmit = async (event) => {
    event.preventDefault();
    try {
      await api('/api/me/totp/confirm', { method: 'POST', body: { code: $('totp-code').value.trim() }, csrf: state.me.csrf });
      set({ me: await api('/api/me') });
      await afterLogin(wrap);
    } catch (err) {
      $('totp-status').textContent = err.status === 401 || err.status === 400 ? t('totpWrong') : errorText(err);
    }
  };
}

function pinWarning(err, wrap) {
  $('pin-text').textContent = t('pinText', { team: err.team });
  $('pin-safety').textContent = t('pinSafety', { safety: err.safety });
  show('pinwarn');
  $('pin-trust').onclick = async () => {
    trustPin(err.team, err.pin);
    await afterLogin(wrap);
  };
}

export async function signOut(notice = null) {
  try {
    if (state.me) await api('/api/logout', { method: 'POST', body: {}, csrf: state.me.csrf });
  } catch {
    // the session may have ended already
  }
  Drafts.wipe();
  resetPage(notice);
}

// A new page: every key and text in this page's memory is gone with it.
for (const id of ['signout', 'unlock-signout', 'pin-signout']) $(id).addEventListener('click', () => signOut());
