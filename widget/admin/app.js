/* The admin area's shell: language, sign-in, the page navigation and the page contract.
 * Pages are modules (widget/admin/NAME.js) that export
 *
 *   export const strings = { en: { title: '…', … }, de: { title: '…', … } };
 *   export async function render(ctx, root) { … }
 *
 * The shell writes the page's <h1> from strings.title (pages start at <h2>; a page that
 * writes its own <h1> replaces the shell's), then calls render with an empty root and
 *
 *   ctx = { lang, t(key, vars), api, csrf, me, keys, teams, reloadTeams(), announce(text), go(hash) }
 *
 * where t reads the page's own strings, api is the shared api(path, {method, body,
 * csrf}) (a session that has ended takes the page back to the sign-in), keys is what
 * unlockIdentity returned. Keys live in this page's memory only:
 * a reload asks for the password again, sign-out replaces the page. The server checks
 * every request; the roles below only decide what the navigation offers. */
import { TEXTS, language, translator } from './i18n.js';
import { api, currentStaff, derive, deviceSecret, signIn } from '/widget/shared/session.js';
import { unlockIdentity } from './keys.js';

const PAGES = [
  { id: 'teams', module: './teams.js', roles: ['admin'] },
  { id: 'accounts', module: './accounts.js', roles: ['admin'] },
  { id: 'hours', module: './hours.js', roles: ['admin'] },
  { id: 'snippet', module: './snippet.js', roles: ['admin'] },
  { id: 'consent', module: './consent.js', roles: ['admin'] },
  { id: 'audit', module: './audit.js', roles: ['admin'] },
  { id: 'stats', module: './stats.js', roles: ['admin', 'supervisor'] },
  { id: 'retention', module: './retention.js', roles: ['admin'] },
  { id: 'holds', module: './holds.js', roles: ['admin', 'supervisor'] },
  { id: 'blocks', module: './blocks.js', roles: ['admin', 'supervisor'] },
  { id: 'reports', module: './reports.js', roles: ['admin'] }, // they cover every team
  { id: 'privacy', module: './privacy.js', roles: ['admin'] },
];
const ROLES = ['admin', 'supervisor'];

/**
 * The page's element with this id: its HTML has every id the code asks for. Typed as an
 * input and a dialog at once, so that `.value` or `.showModal()` need no cast while a
 * misspelt member is still an error (not HTMLFormElement: it takes any name).
 * @param {string} id
 * @returns {HTMLInputElement & HTMLDialogElement}
 */
const $ = (id) => /** @type {any} */ (document.getElementById(id));
const NOTICE = 'cc-admin-notice'; // sessionStorage: a notice to show after the page reset
const S = {
  lang: language(),
  me: null, // /api/me
  keys: null, // what unlockIdentity returned
  teams: [],
  pages: [], // the PAGES this role may open, each with its loaded module
  current: null,
  rendering: 0,
};
let t = translator(TEXTS, S.lang);

// ----------------------------------------------------------------- language
function applyLanguage() {
  document.documentElement.lang = S.lang;
  for (const node of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('[data-t]'))) node.textContent = t(node.dataset.t);
  $('lang').lang = S.lang === 'de' ? 'en' : 'de';
  if (S.me) $('who').textContent = t('signedInAs', { name: S.me.staff.name, role: t(`role_${S.me.staff.role}`) });
  if (S.me) $('unlock-text').textContent = t('unlockText', { name: S.me.staff.name });
  if (S.pages.length) {
    renderNav();
    showPage(false);
  } else {
    document.title = t('brand');
  }
}

$('lang').addEventListener('click', () => {
  S.lang = S.lang === 'de' ? 'en' : 'de';
  localStorage.setItem('cc-admin-lang', S.lang);
  t = translator(TEXTS, S.lang);
  applyLanguage();
});

function show(section) {
  for (const id of ['signin', 'unlock', 'denied', 'page']) $(id).hidden = id !== section;
  $('nav').hidden = section !== 'page';
  const signedIn = S.me !== null && section !== 'signin';
  $('signout').hidden = !signedIn;
  $('who').hidden = !signedIn;
  if (section === 'signin' || section === 'unlock') /** @type {HTMLElement | null} */ ($(section).querySelector('input:not([hidden])'))?.focus();
}

/** Tells screen-reader users something politely (the region is emptied first so the
 * same text twice is said twice). */
function announce(text) {
  const region = $('announce');
  region.textContent = '';
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

function errorText(err) {
  if (err.status === 429) return t('throttled');
  if (err.status === 401) return t('wrongLogin');
  if (err.code === 'badSecret') return t('badSecret');
  return err.message || String(err);
}

// ----------------------------------------------------------------- sign-in
async function boot() {
  applyLanguage();
  const notice = sessionStorage.getItem(NOTICE);
  sessionStorage.removeItem(NOTICE);
  S.me = await currentStaff().catch(() => null);
  if (!S.me) {
    show('signin');
    if (notice) $('signin-status').textContent = t(notice);
    return;
  }
  if (!ROLES.includes(S.me.staff.role)) return denied();
  $('unlock-text').textContent = t('unlockText', { name: S.me.staff.name });
  $('ul-user').value = S.me.staff.username;
  show('unlock');
}

$('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const status = $('signin-status');
  const username = $('si-user').value.trim();
  const password = $('si-pass').value;
  if (!username || !password) {
    status.textContent = t('missing');
    return;
  }
  const button = /** @type {HTMLButtonElement} */ ($('signin-form').querySelector('button[type=submit]'));
  button.disabled = true;
  status.textContent = '';
  $('working').textContent = t('working');
  try {
    const wrap = await signIn(username, password, $('si-secret').value, $('si-code').value.trim());
    S.me = await api('/api/me');
    $('si-pass').value = '';
    await afterLogin(wrap);
  } catch (err) {
    status.textContent = errorText(err);
  } finally {
    $('working').textContent = '';
    button.disabled = false;
  }
});

$('unlock-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const status = $('unlock-status');
  const button = /** @type {HTMLButtonElement} */ ($('unlock-form').querySelector('button[type=submit]'));
  button.disabled = true;
  status.textContent = '';
  $('working').textContent = t('working');
  try {
    const { wrap } = await derive($('ul-pass').value, S.me.staff.username, deviceSecret(S.me.staff.username), S.me.staff.salt);
    $('ul-pass').value = '';
    await afterLogin(wrap);
  } catch (err) {
    if (err.status === 401) {
      sessionStorage.setItem(NOTICE, 'sessionEnded');
      return location.replace('/admin');
    }
    status.textContent = err.reason === 'decrypt_failed' || err.reason === 'key_mismatch' ? t('wrongPassword') : errorText(err);
  } finally {
    $('working').textContent = '';
    button.disabled = false;
  }
});

function denied(text = t('denied')) {
  $('denied-text').textContent = text;
  $('who').textContent = t('signedInAs', { name: S.me.staff.name, role: t(`role_${S.me.staff.role}`) });
  show('denied');
  $('denied-h').tabIndex = -1;
  $('denied-h').focus();
}

async function afterLogin(wrap) {
  $('who').textContent = t('signedInAs', { name: S.me.staff.name, role: t(`role_${S.me.staff.role}`) });
  if (!ROLES.includes(S.me.staff.role)) return denied();
  if (S.me.totp === false && S.me.totp_required) return denied(t('totpFirst'));
  S.keys = await unlockIdentity(S.me, wrap);
  await reloadTeams();
  const allowed = PAGES.filter((p) => p.roles.includes(S.me.staff.role));
  S.pages = await Promise.all(allowed.map(async (p) => {
    try {
      return { ...p, mod: await import(p.module) };
    } catch (err) {
      return { ...p, mod: null, failure: String(err?.message ?? err) };
    }
  }));
  renderNav();
  show('page');
  window.addEventListener('hashchange', () => showPage(true));
  if (!S.pages.some((p) => `#${p.id}` === location.hash)) history.replaceState(null, '', `#${S.pages[0].id}`);
  await showPage(true);
}

/** The shared api() (session.js); when a request is refused because the session has ended (not
 * for a wrong CSRF token or password), the page starts over at the sign-in. */
async function pageApi(path, options) {
  try {
    return await api(path, options);
  } catch (err) {
    if (err.status === 401 && (await currentStaff().catch(() => undefined)) === null) {
      sessionStorage.setItem(NOTICE, 'sessionEnded');
      location.replace('/admin');
    }
    throw err;
  }
}

async function reloadTeams() {
  const { teams } = await pageApi('/api/admin/teams');
  S.teams = teams;
  return teams;
}

async function signOut() {
  try {
    if (S.me) await api('/api/logout', { method: 'POST', body: {}, csrf: S.me.csrf });
  } catch {
    // the session may have ended already
  }
  // A new page: every key in this page's memory is gone with it.
  location.replace('/admin');
}
for (const id of ['signout', 'unlock-signout', 'denied-signout']) $(id).addEventListener('click', signOut);

// The skip link focuses the content without touching the hash, which names the page.
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  const target = $('page').hidden ? $('main') : ($('page').querySelector('h1') ?? $('main'));
  target.focus();
});

// ----------------------------------------------------------------- pages
function pageTitle(page, lang = S.lang) {
  const strings = page.mod?.strings;
  return strings?.[lang]?.title ?? strings?.en?.title ?? page.id;
}

function renderNav() {
  const list = $('nav-list');
  list.replaceChildren(...S.pages.map((page) => {
    const link = document.createElement('a');
    link.href = `#${page.id}`;
    link.textContent = pageTitle(page);
    if (page === S.current) link.setAttribute('aria-current', 'page');
    const item = document.createElement('li');
    item.append(link);
    return item;
  }));
}

/** Shows the page the hash names; `moved` (a navigation, not a language switch) also
 * moves the focus to its heading, which screen readers then read out. */
async function showPage(moved) {
  const page = S.pages.find((p) => `#${p.id}` === location.hash);
  const turn = ++S.rendering;
  const host = $('page');
  const heading = document.createElement('h1');
  heading.tabIndex = -1;
  const root = document.createElement('div');
  root.className = 'page-body';
  S.current = page ?? null;
  renderNav();
  if (!page) {
    heading.textContent = t('noPage');
    host.replaceChildren(heading);
    document.title = `${t('noPage')} – ${t('brand')}`;
    if (moved) heading.focus();
    return;
  }
  const title = pageTitle(page);
  heading.textContent = title;
  host.replaceChildren(heading, root);
  document.title = `${title} – ${t('brand')}`;
  if (moved) heading.focus();
  if (!page.mod) {
    root.append(Object.assign(document.createElement('p'), { className: 'form-status', textContent: t('loadFailed', { reason: page.failure }) }));
  } else {
    const pt = translator(page.mod.strings ?? {}, S.lang);
    const ctx = {
      lang: S.lang,
      t: pt,
      api: pageApi,
      csrf: S.me.csrf,
      me: S.me,
      keys: S.keys,
      teams: S.teams,
      reloadTeams: async () => {
        const teams = await reloadTeams();
        ctx.teams = teams;
        return teams;
      },
      announce,
      go: (hash) => {
        location.hash = hash.startsWith('#') ? hash : `#${hash}`;
      },
    };
    host.setAttribute('aria-busy', 'true');
    try {
      await page.mod.render(ctx, root);
    } catch (err) {
      if (turn === S.rendering) root.append(Object.assign(document.createElement('p'), { className: 'form-status', role: 'alert', textContent: t('loadFailed', { reason: err?.message ?? String(err) }) }));
    }
    if (turn !== S.rendering) return;
    host.removeAttribute('aria-busy');
    const own = root.querySelector('h1');
    if (own) {
      heading.remove();
      own.tabIndex = -1;
      if (moved) own.focus();
    }
  }
}

boot();
