/* The duty console page: sign-in, unlock, queue, chats, notes, transfer, close, block,
 * notices. The end-to-end part is desk.js; this module only shows and asks. Every text
 * from a client or colleague goes into the page with textContent, never as markup. */
import * as e2e from '/widget/shared/e2e-core.js';
import * as staff from '/widget/shared/e2e-staff.js';
import { CATEGORIES, language, translator } from './i18n.js';
import { Desk, Drafts, unlock } from './desk.js';
import { Refused, api, currentStaff, derive, deviceSecret, rememberSecret, signIn } from '/widget/shared/session.js';
import { trustPin } from '/widget/shared/pins.js';

/**
 * The page's element with this id: its HTML has every id the code asks for. Typed as an
 * input and a dialog at once, so that `.value` or `.showModal()` need no cast while a
 * misspelt member is still an error (not HTMLFormElement: it takes any name).
 * @param {string} id
 * @returns {HTMLInputElement & HTMLDialogElement}
 */
const $ = (id) => /** @type {any} */ (document.getElementById(id));
const NOTICE = 'cc-console-notice'; // sessionStorage: a notice to show after the page reset

const S = {
  lang: language(),
  t: null,
  me: null, // /api/me
  keys: null, // what unlock() returned
  desk: null,
  ws: null,
  drafts: null,
  hello: null,
  queue: new Map(), // cid -> queue item
  presence: new Map(), // staff id -> {name, status, chats}
  people: new Map(), // staff id -> name, of every team member (also those off duty)
  topics: new Map(), // "team topic" -> the topic's name as the team set it
  chats: new Map(), // cid -> {held, unread, ended, note}
  order: [], // cids in tab order
  current: null,
  retry: 0,
  audio: null,
  canned: new Map(), // team -> list
  typingSent: 0,
  typingTimer: null,
};
S.t = translator(S.lang);
const t = (k, v) => S.t(k, v);

// ----------------------------------------------------------------- language
function applyLanguage() {
  document.documentElement.lang = S.lang;
  document.title = t('title');
  for (const el of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('[data-t]'))) el.textContent = t(el.dataset.t);
  $('lang').lang = S.lang === 'de' ? 'en' : 'de';
  fillCategories();
  if (S.hello) {
    renderQueue();
    renderShift();
    renderTabs();
    renderChat();
  }
  updateTitle();
}

function fillCategories() {
  const select = $('close-category');
  select.replaceChildren(new Option(t('categoryNone'), ''), ...CATEGORIES.map((c) => new Option(t(`cat_${c}`), c)));
}

$('lang').addEventListener('click', () => {
  S.lang = S.lang === 'de' ? 'en' : 'de';
  localStorage.setItem('cc-console-lang', S.lang);
  S.t = translator(S.lang);
  applyLanguage();
});

function show(section) {
  for (const id of ['signin', 'invite', 'unlock', 'totp', 'pinwarn', 'desk']) $(id).hidden = id !== section;
  $('tools').hidden = section !== 'desk';
  const first = /** @type {HTMLElement | null} */ ($(section).querySelector('input:not([type=hidden]), button'));
  if (first && section !== 'desk') first.focus();
}

function announce(text) {
  const region = $('announce');
  region.textContent = '';
  requestAnimationFrame(() => {
    region.textContent = text;
  });
}

// ----------------------------------------------------------------- sign-in
async function boot() {
  applyLanguage();
  const link = new URLSearchParams(location.hash.slice(1));
  if (link.has('invite')) return invitePage(link);
  const notice = sessionStorage.getItem(NOTICE);
  sessionStorage.removeItem(NOTICE);
  S.me = await currentStaff();
  if (!S.me) {
    show('signin');
    if (notice) $('signin-status').textContent = t(notice);
    return;
  }
  $('unlock-text').textContent = t('unlockText', { name: S.me.staff.name });
  $('ul-user').value = S.me.staff.username;
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
    S.me = await api('/api/me');
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
    const { wrap } = await derive($('ul-pass').value, S.me.staff.username, deviceSecret(S.me.staff.username), S.me.staff.salt);
    $('ul-pass').value = '';
    await afterLogin(wrap);
  } catch (err) {
    status.textContent = err.reason === 'decrypt_failed' || err.reason === 'key_mismatch' ? t('wrongPassword') : errorText(err);
  } finally {
    $('connection').textContent = '';
    button.disabled = false;
  }
});

async function afterLogin(wrap) {
  if (S.me.totp === false && S.me.totp_required) return enrolTotp(wrap);
  if (!S.me.teams.length) throw new Error(t('noTeams'));
  try {
    S.keys = await unlock(S.me, wrap);
  } catch (err) {
    if (err.code === 'pinMismatch') return pinWarning(err, wrap);
    if (err.code === 'notInRoster') throw new Error(t('notInRoster'));
    throw err;
  }
  S.drafts = await Drafts.open(wrap, S.me.staff.id);
  await loadNames();
  startDesk();
}

// The names of the teams' members, for notes, handovers and messages by colleagues who
// are not on duty now (presence frames name those who are), and of the teams' topics.
async function loadNames() {
  for (const team of S.me.teams) {
    const slug = encodeURIComponent(team);
    try {
      const data = await api(`/api/teams/${slug}/people`);
      for (const p of data.people) S.people.set(p.id, p.name);
      const status = await api(`/api/teams/${slug}/status?lang=${S.lang}`);
      for (const topic of status.topics ?? []) S.topics.set(`${team} ${topic.slug}`, topic.name);
    } catch {
      // names are a convenience: without them a colleague is "a former colleague" and a
      // topic goes by its short name
    }
  }
}

async function enrolTotp(wrap) {
  const started = await api('/api/me/totp', { method: 'POST', body: {}, csrf: S.me.csrf });
  const qr = await import('./qr.js');
  $('totp-qr').innerHTML = qr.toSvg(qr.encode(started.uri), { title: t('totpTitle') });
  $('totp-secret').textContent = started.secret.replace(/(.{4})/g, '$1 ').trim();
  show('totp');
  $('totp-form').onsubmit = async (event) => {
    event.preventDefault();
    try {
      await api('/api/me/totp/confirm', { method: 'POST', body: { code: $('totp-code').value.trim() }, csrf: S.me.csrf });
      S.me = await api('/api/me');
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

async function signOut(notice = null) {
  try {
    if (S.me) await api('/api/logout', { method: 'POST', body: {}, csrf: S.me.csrf });
  } catch {
    // the session may have ended already
  }
  Drafts.wipe();
  resetPage(notice);
}

// A new page: every key and text in this page's memory is gone with it.
function resetPage(notice) {
  if (notice) sessionStorage.setItem(NOTICE, notice);
  S.ws?.close();
  location.replace('/console');
}

for (const id of ['signout', 'unlock-signout', 'pin-signout']) $(id).addEventListener('click', () => signOut());

// ----------------------------------------------------------------- invitation
// The link an admin hands over off the server: /console#invite=ID&secret=S[&pin=P]. The
// fragment never reaches a server; it is taken off the address bar at once.
async function invitePage(link) {
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
    const weak = staff.passwordProblem(password);
    if (weak) return (status.textContent = t(weak === 'short' ? 'passwordShort' : 'passwordRepetitive'));
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

// ----------------------------------------------------------------- the socket
function startDesk() {
  const k = S.keys;
  S.desk = new Desk({
    transmit: (frame) => S.ws?.readyState === WebSocket.OPEN && S.ws.send(JSON.stringify(frame)),
    emit: onDesk,
    me: { id: S.me.staff.id, sigPriv: k.sigPriv, sigPub: k.sigPub },
    teams: k.teams,
  });
  $('manage').hidden = !oversees();
  $('team-chats-box').hidden = !oversees();
  $('safety').textContent = [...k.teams].map(([team, v]) => t('safety', { team, safety: v.safety })).join(' · ');
  show('desk');
  connect();
}

function connect() {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/console`;
  const ws = new WebSocket(url);
  S.ws = ws;
  let fatal = null;
  let mine = null; // this socket's connection id, from its hello
  ws.onmessage = (event) => {
    if (fatal === 'openedElsewhere') return;
    const f = JSON.parse(event.data);
    if (f.type === 'error' && ['session_expired', 'unauthorized'].includes(f.code)) fatal = 'sessionEnded';
    if (f.type === 'hello') mine = f.connection;
    if (f.type === 'console_opened' && mine && f.connection !== mine) {
      // Another window or device of this account opened the console: it holds the chats
      // now (their counters move on there). This page stops and offers to unlock again.
      fatal = 'openedElsewhere';
      S.desk.disconnected();
      ws.close();
      return;
    }
    onFrame(f);
  };
  ws.onclose = () => {
    if (S.ws !== ws) return;
    S.desk.disconnected();
    if (fatal) return resetPage(fatal);
    $('connection').textContent = t('reconnecting');
    const delay = [500, 1000, 2000, 5000, 10000][Math.min(S.retry++, 4)];
    setTimeout(async () => {
      if (!(await currentStaff())) return resetPage('sessionEnded');
      connect();
    }, delay);
  };
}

function onFrame(f) {
  S.desk.onFrame(f);
  switch (f.type) {
    case 'hello':
      S.hello = f;
      S.retry = 0;
      $('connection').textContent = '';
      S.queue.clear();
      S.presence.clear();
      S.ws.send(JSON.stringify({ type: 'availability', status: $('availability').value }));
      renderShift();
      teamChatsSoon();
      break;
    case 'queue':
      S.queue = new Map(f.items.map((item) => [item.conversation, item]));
      renderQueue();
      break;
    case 'queued':
      S.queue.set(f.item.conversation, f.item);
      renderQueue();
      notifyWaiting(f.item);
      break;
    case 'dequeued':
      S.queue.delete(f.conversation);
      renderQueue();
      teamChatsSoon();
      break;
    case 'presence':
      if (f.staff === S.me.staff.id) break; // our own, as the team hears it
      if (f.status === 'offline') S.presence.delete(f.staff);
      else S.presence.set(f.staff, { name: f.name, status: f.status, chats: f.chats });
      S.people.set(f.staff, f.name);
      renderShift();
      teamChatsSoon(); // a colleague's number of chats changed
      break;
    case 'error':
      if (!f.answers || !['accept', 'send', 'envelope', 'envelopes', 'transfer', 'close', 'block'].includes(f.answers)) $('connection').textContent = f.message;
      break;
  }
}

// Events of the desk (desk.js).
function onDesk(event, d) {
  const chat = d.cid ? S.chats.get(d.cid) : null;
  switch (event) {
    case 'held': {
      const existing = S.chats.get(d.cid);
      if (existing) {
        existing.held = d.held;
        existing.ended = null;
      } else {
        S.chats.set(d.cid, { held: d.held, unread: 0, ended: null, problem: null });
        S.order.push(d.cid);
      }
      if (d.by) announce(t('transferredIn', { name: nameOf(d.by) }));
      if (!S.current) select(d.cid);
      else if (S.current === d.cid) renderChat();
      renderTabs();
      break;
    }
    case 'message':
      if (!chat) break;
      if (d.cid === S.current && !document.hidden) appendMessage(d.message);
      if (d.message.sender === 'client' && (d.cid !== S.current || !looking())) {
        chat.unread += 1;
        if (d.cid !== S.current) announce(`${chatLabel(d.cid)}: ${t('unread', { n: chat.unread })}`);
        notifyMessage(d.cid);
      }
      if (d.cid === S.current && d.message.sender === 'client') $('typing').textContent = '';
      renderTabs();
      updateTitle();
      break;
    case 'status':
      if (d.cid === S.current) {
        const meta = $('log').querySelector(`li[data-id="${CSS.escape(d.id)}"] .meta`);
        const message = chat?.held.messages.find((m) => m.id === d.id);
        if (meta && message) meta.textContent = whoSaid(message);
      }
      break;
    case 'typing':
      if (d.cid === S.current) $('typing').textContent = d.active ? t('typing') : '';
      break;
    case 'state':
      if (!chat) break;
      if (d.state !== 'active') chat.ended = d.state === 'deleted' ? 'deleted' : d.reason === 'client_closed' ? 'endedClient' : d.reason === 'idle' ? 'endedIdle' : 'ended';
      if (d.cid === S.current) renderChat();
      renderTabs();
      break;
    case 'released':
      if (!chat) break;
      if (d.reason === 'transferred' || d.reason === 'member_removed') return dropChat(d.cid, 'released');
      chat.ended = chat.ended ?? 'ended';
      if (d.cid === S.current) renderChat();
      renderTabs();
      break;
    case 'note':
      if (d.cid === S.current) renderNotes();
      break;
    case 'problem':
      if (chat) {
        chat.problem = d.err?.code || d.err?.reason || 'malformed';
        if (d.cid === S.current) $('chat-status').textContent = t('problem', { code: chat.problem });
      }
      break;
    case 'clientClosed':
      break;
  }
}

// ----------------------------------------------------------------- queue and shift
function minutes(since) {
  const m = Math.floor((Date.now() - since) / 60000);
  return m < 1 ? t('seconds') : t('minutes', { n: m });
}

function renderQueue() {
  const items = [...S.queue.values()].sort((a, b) => a.waiting_since - b.waiting_since);
  $('queue-count').textContent = String(items.length);
  $('queue-empty').hidden = items.length > 0;
  $('queue').replaceChildren(...items.map((item, i) => {
    const since = t('waitingFor', { time: minutes(item.waiting_since) });
    const li = chatItem(topicName(item), since, i === 0 ? t('acceptKey') : t('accept'), `${t('accept')}: ${topicName(item)}, ${since}`, (button) => acceptChat(item.conversation, button));
    li.dataset.conversation = item.conversation;
    return li;
  }));
  updateTitle();
}

// A chat in a list of the side column: what and since when, and the one thing to do.
function chatItem(label, since, action, actionLabel, onClick, className = '') {
  const li = document.createElement('li');
  const who = document.createElement('span');
  who.className = 'who';
  const strong = document.createElement('strong');
  strong.textContent = label;
  const when = document.createElement('span');
  when.className = 'since';
  when.textContent = since;
  who.append(strong, when);
  const button = document.createElement('button');
  button.type = 'button';
  if (className) button.className = className;
  button.textContent = action;
  button.setAttribute('aria-label', actionLabel);
  button.addEventListener('click', () => onClick(button));
  li.append(who, button);
  return li;
}

function topicName(item) {
  const named = item.topic && S.topics.get(`${item.team} ${item.topic}`);
  const topic = named || (item.topic ? item.topic.charAt(0).toUpperCase() + item.topic.slice(1) : t('noTopic'));
  return S.me.teams.length > 1 ? `${topic} (${item.team})` : topic;
}

function renderShift() {
  const people = [...S.presence.values()].sort((a, b) => a.name.localeCompare(b.name));
  $('shift-empty').hidden = people.length > 0;
  $('shift').replaceChildren(...people.map((p) => {
    const li = document.createElement('li');
    const dot = document.createElement('span');
    dot.className = `status-dot ${p.status}`;
    dot.setAttribute('aria-hidden', 'true');
    li.append(dot, `${p.name}: ${t(p.status)}`);
    return li;
  }));
}

function nameOf(id) {
  if (id === S.me.staff.id) return t('you');
  return S.presence.get(id)?.name ?? S.people.get(id) ?? t('formerColleague');
}

// "Client", "You · read", "Anna · stored" (a colleague's message in a chat taken over).
function whoSaid(m) {
  if (m.sender !== 'team') return t('client');
  return `${m.author ? nameOf(m.author) : t('you')} · ${t(m.status ?? 'stored')}`;
}

// When: the time today, the date and time before.
function clockText(at) {
  const when = new Date(at);
  const today = new Date().toDateString() === when.toDateString();
  /** @type {Intl.DateTimeFormatOptions} */
  const options = today ? { hour: '2-digit', minute: '2-digit' } : { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' };
  return new Intl.DateTimeFormat(S.lang === 'de' ? 'de-DE' : 'en-GB', options).format(when);
}

// The head of a message or note: who (and its state), and when.
function head(who, at) {
  const line = document.createElement('span');
  line.className = 'head';
  const meta = document.createElement('span');
  meta.className = 'meta';
  meta.textContent = who;
  line.append(meta);
  if (at) {
    const time = document.createElement('time');
    time.className = 'at';
    time.dateTime = new Date(at).toISOString();
    time.textContent = clockText(at);
    line.append(time);
  }
  return line;
}

async function acceptChat(cid, button) {
  const status = $('chat-status');
  const team = S.queue.get(cid)?.team;
  if (team && !S.keys.teams.has(team)) {
    // A team this account joined after the keys were unlocked: its keys come with the next unlock.
    const text = t('newTeam', { team });
    announce(text);
    $('connection').textContent = text;
    return;
  }
  if (button) button.disabled = true;
  try {
    const held = await S.desk.accept(cid);
    select(held.cid);
  } catch (err) {
    const text = err.code === 'already_taken' ? t('taken') : err.code === 'cap_reached' ? t('capReached', { cap: S.hello.cap }) : err.message;
    announce(text);
    status.textContent = text;
    $('connection').textContent = text;
    if (button) button.disabled = false;
  }
}

function updateTitle() {
  const n = S.queue.size;
  const unread = [...S.chats.values()].reduce((sum, chat) => sum + chat.unread, 0);
  const title = unread ? t('titleUnread', { n: unread }) : t('title');
  document.title = n ? `(${n}) ${title}` : title;
}

// Whether the counsellor sees this page now (not another tab or window).
function looking() {
  return !document.hidden && document.hasFocus();
}

// ----------------------------------------------------------------- notices
function wakeAudio() {
  if (!S.audio && 'AudioContext' in window) S.audio = new AudioContext();
}

function beep(frequency) {
  const ctx = S.audio;
  if (!ctx) return;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.frequency.value = frequency;
  gain.gain.setValueAtTime(0.15, ctx.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.4);
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  osc.stop(ctx.currentTime + 0.4);
}

function notifyWaiting(item) {
  beep(660);
  const text = t('newClient', { topic: topicName(item) });
  announce(text);
  if ('Notification' in window && Notification.permission === 'granted' && (document.hidden || !document.hasFocus())) {
    // No content of the chat: only that someone waits, and the topic.
    new Notification(t('title'), { body: text, tag: 'cc-queue', silent: true });
  }
}

// A client wrote while the counsellor looks elsewhere: a lower tone and, with permission,
// a desktop notice naming only the chat's tab, never what was written.
function notifyMessage(cid) {
  if (looking()) return;
  beep(440);
  if ('Notification' in window && Notification.permission === 'granted') {
    new Notification(t('title'), { body: t('newMessage', { chat: chatLabel(cid) }), tag: `cc-chat-${cid}`, silent: true });
  }
}

$('notices').addEventListener('click', async () => {
  wakeAudio();
  if ('Notification' in window && Notification.permission !== 'granted') await Notification.requestPermission();
  if ('Notification' in window && Notification.permission === 'granted') announce(t('noticesOn'));
});

$('availability').addEventListener('change', () => {
  S.ws?.send(JSON.stringify({ type: 'availability', status: $('availability').value }));
});

// ----------------------------------------------------------------- chats
function chatLabel(cid) {
  const chat = S.chats.get(cid);
  const i = S.order.indexOf(cid) + 1;
  return t('chatTab', { n: i, topic: topicName(chat.held) });
}

function renderTabs() {
  $('no-chats').hidden = S.order.length > 0;
  $('panel').hidden = !S.current;
  $('tabs').replaceChildren(...S.order.map((cid) => {
    const chat = S.chats.get(cid);
    const tab = document.createElement('button');
    tab.type = 'button';
    tab.setAttribute('role', 'tab');
    tab.id = `tab-${cid}`;
    tab.dataset.conversation = cid;
    tab.setAttribute('aria-controls', 'panel');
    tab.setAttribute('aria-selected', String(cid === S.current));
    tab.tabIndex = cid === S.current ? 0 : -1;
    const label = document.createElement('span');
    label.textContent = chatLabel(cid);
    if (chat.ended) label.className = 'ended';
    tab.append(label);
    if (chat.unread) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = t('unread', { n: chat.unread });
      tab.append(badge);
    }
    tab.addEventListener('click', () => select(cid));
    tab.addEventListener('keydown', (event) => {
      const i = S.order.indexOf(cid);
      const next = event.key === 'ArrowRight' ? i + 1 : event.key === 'ArrowLeft' ? i - 1 : null;
      if (next === null) return;
      event.preventDefault();
      const target = S.order[(next + S.order.length) % S.order.length];
      select(target);
      $(`tab-${target}`)?.focus();
    });
    return tab;
  }));
  if (S.current) $('panel').setAttribute('aria-labelledby', `tab-${S.current}`);
}

async function select(cid) {
  if (S.current && S.current !== cid && S.drafts) await S.drafts.set(S.current, $('draft').value);
  S.current = cid;
  const chat = S.chats.get(cid);
  if (chat) chat.unread = 0;
  renderTabs();
  renderChat();
  updateTitle();
}

function renderChat() {
  const chat = S.chats.get(S.current);
  $('panel').hidden = !chat;
  if (!chat) return;
  const held = chat.held;
  $('chat-info').textContent = [topicName(held), held.team].join(' · ');
  const log = $('log');
  log.setAttribute('aria-live', 'off'); // a switch is not news; new messages are
  log.replaceChildren();
  for (const m of held.messages) appendMessage(m);
  requestAnimationFrame(() => log.setAttribute('aria-live', 'polite'));
  $('draft').value = S.drafts?.get(S.current) ?? '';
  $('typing').textContent = '';
  $('chat-status').textContent = chat.problem ? t('problem', { code: chat.problem }) : chat.ended ? t(chat.ended) : '';
  const ended = Boolean(chat.ended);
  for (const id of ['draft', 'act-transfer', 'act-close', 'act-block', 'canned-open', 'note-text']) $(id).disabled = ended;
  /** @type {HTMLButtonElement} */ ($('compose').querySelector('button[type=submit]')).disabled = ended;
  /** @type {HTMLButtonElement} */ ($('note-form').querySelector('button')).disabled = ended;
  $('act-remove').hidden = !ended;
  $('handovers').hidden = held.handovers.length === 0;
  $('handovers').textContent = handoverText(held);
  renderNotes();
}

function messageItem(m) {
  const li = document.createElement('li');
  li.className = m.sender;
  li.dataset.id = m.id;
  const text = document.createElement('p');
  text.className = 'text';
  text.textContent = m.text;
  li.append(head(whoSaid(m), m.at), text);
  return li;
}

function appendMessage(m) {
  const log = $('log');
  log.append(messageItem(m));
  log.scrollTop = log.scrollHeight; // the list scrolls, not the page
}

function noteItem(note) {
  const li = document.createElement('li');
  li.append(head(nameOf(note.author), note.at), note.text);
  return li;
}

function handoverText(held) {
  return held.handovers.map((h) => `${t('handover', { name: nameOf(h.author) })}: ${h.text}`).join('\n');
}

function renderNotes() {
  const chat = S.chats.get(S.current);
  if (!chat) return;
  $('notes').replaceChildren(...chat.held.notes.map(noteItem));
}

function dropChat(cid, why) {
  S.chats.delete(cid);
  S.order = S.order.filter((c) => c !== cid);
  S.drafts?.set(cid, '');
  announce(t(why));
  if (S.current === cid) {
    S.current = null;
    if (S.order.length) select(S.order[0]);
  }
  renderTabs();
  if (!S.current) $('panel').hidden = true;
}

$('act-remove').addEventListener('click', () => dropChat(S.current, 'ended'));

$('compose').addEventListener('submit', async (event) => {
  event.preventDefault();
  const cid = S.current;
  const text = $('draft').value.trim();
  if (!cid || !text) return;
  $('draft').value = '';
  await S.drafts.set(cid, '');
  S.desk.typing(cid, false);
  S.typingSent = 0;
  try {
    await S.desk.say(cid, text);
  } catch {
    const back = S.drafts.get(cid);
    const restored = back ? `${text}\n${back}` : text;
    await S.drafts.set(cid, restored);
    if (S.current === cid) $('draft').value = restored;
    announce(t('sendFailed'));
    $('chat-status').textContent = t('sendFailed');
  }
});

$('draft').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    /** @type {HTMLFormElement} */ (document.getElementById('compose')).requestSubmit();
  }
});

$('draft').addEventListener('input', () => {
  const cid = S.current;
  if (!cid) return;
  S.drafts.set(cid, $('draft').value);
  const now = Date.now();
  if (now - S.typingSent > 3000) {
    S.typingSent = now;
    S.desk.typing(cid, true);
  }
  clearTimeout(S.typingTimer);
  S.typingTimer = setTimeout(() => {
    S.typingSent = 0;
    S.desk.typing(cid, false);
  }, 5000);
});

$('note-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('note-text').value.trim();
  if (!text || !S.current) return;
  try {
    await S.desk.note(S.current, text);
    $('note-text').value = '';
  } catch (err) {
    $('chat-status').textContent = err.message;
  }
});

// ----------------------------------------------------------------- dialogs
function ask(dialogId) {
  const dialog = $(dialogId);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = '';
    dialog.showModal();
  });
}

$('act-transfer').addEventListener('click', async () => {
  const cid = S.current;
  const select = $('transfer-to');
  const colleagues = [...S.presence].filter(([, p]) => p.status !== 'offline');
  select.replaceChildren(new Option(t('toQueue'), ''), ...colleagues.map(([id, p]) => new Option(`${p.name} (${t(p.status)})`, id)));
  $('transfer-note').value = '';
  if (!(await ask('transfer-dialog'))) return $('act-transfer').focus();
  try {
    await S.desk.transfer(cid, select.value || null, $('transfer-note').value.trim() || null);
  } catch (err) {
    $('chat-status').textContent = err.message;
  }
});

$('act-close').addEventListener('click', async () => {
  const cid = S.current;
  $('close-category').value = '';
  if (!(await ask('close-dialog'))) return $('act-close').focus();
  try {
    await S.desk.close(cid, $('close-category').value || null);
  } catch (err) {
    $('chat-status').textContent = err.message;
  }
  $('act-remove').focus();
});

$('act-block').addEventListener('click', async () => {
  const cid = S.current;
  if (!(await ask('block-dialog'))) return $('act-block').focus();
  try {
    await S.desk.block(cid, Number($('block-hours').value));
  } catch (err) {
    $('chat-status').textContent = err.message;
  }
  $('act-remove').focus();
});

async function cannedFor(team) {
  if (!S.canned.has(team)) {
    const data = await api(`/api/teams/${encodeURIComponent(team)}/canned`);
    S.canned.set(team, data.replies ?? []);
  }
  return S.canned.get(team);
}

async function openCanned() {
  const chat = S.chats.get(S.current);
  if (!chat || chat.ended) return;
  let items = [];
  try {
    items = await cannedFor(chat.held.team);
  } catch (err) {
    $('chat-status').textContent = err.message;
  }
  const own = items.filter((c) => !c.lang || c.lang === S.lang).concat(items.filter((c) => c.lang && c.lang !== S.lang));
  const render = () => {
    const q = $('canned-filter').value.trim().toLowerCase();
    const shown = own.filter((c) => !q || c.title.toLowerCase().includes(q) || c.body.toLowerCase().includes(q));
    $('canned-none').hidden = shown.length > 0;
    $('canned-list').replaceChildren(...shown.map((c) => {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      const title = document.createElement('strong');
      title.textContent = c.title;
      const body = document.createElement('span');
      body.className = 'body';
      body.textContent = c.body;
      button.append(title, body);
      button.addEventListener('click', () => {
        insertText(c.body);
        $('canned-dialog').close('cancel');
      });
      li.append(button);
      return li;
    }));
  };
  $('canned-filter').value = '';
  $('canned-filter').oninput = render;
  render();
  await ask('canned-dialog');
  $('draft').focus();
}

function insertText(text) {
  const area = $('draft');
  const start = area.selectionStart ?? area.value.length;
  area.value = area.value.slice(0, start) + text + area.value.slice(area.selectionEnd ?? start);
  area.selectionStart = area.selectionEnd = start + text.length;
  area.dispatchEvent(new Event('input'));
}

$('canned-open').addEventListener('click', openCanned);

// ----------------------------------------------------------------- managing canned replies
// Admins and supervisors keep their teams' replies here (the server checks the role).
const manage = { editing: null };

async function manageList() {
  const team = $('mc-team').value;
  S.canned.delete(team);
  const items = await cannedFor(team);
  $('mc-list').replaceChildren(...items.map((c) => {
    const li = document.createElement('li');
    const title = document.createElement('strong');
    title.textContent = `${c.title} (${c.lang})`;
    const body = document.createElement('span');
    body.className = 'body';
    body.textContent = c.body;
    const edit = document.createElement('button');
    edit.type = 'button';
    edit.className = 'secondary';
    edit.textContent = t('edit');
    edit.setAttribute('aria-label', `${t('edit')}: ${c.title}`);
    edit.addEventListener('click', () => manageEdit(c));
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'danger';
    remove.textContent = t('remove');
    remove.setAttribute('aria-label', `${t('remove')}: ${c.title}`);
    remove.addEventListener('click', async () => {
      await api(`/api/canned/${c.id}`, { method: 'DELETE', csrf: S.me.csrf });
      $('mc-status').textContent = t('cannedDeleted');
      await manageList();
    });
    li.append(title, body, edit, ' ', remove);
    return li;
  }));
}

function manageEdit(c) {
  manage.editing = c?.id ?? null;
  $('mc-form-h').textContent = c ? `${t('edit')}: ${c.title}` : t('cannedNew');
  $('mc-title').value = c?.title ?? '';
  $('mc-body').value = c?.body ?? '';
  $('mc-lang').value = c?.lang ?? S.lang;
  $('mc-title').focus();
}

$('manage-canned').addEventListener('click', async () => {
  $('mc-team').replaceChildren(...S.me.teams.map((team) => new Option(team, team)));
  $('mc-status').textContent = '';
  manageEdit(null);
  $('manage-dialog').showModal();
  $('mc-title').focus();
  await manageList();
});
$('mc-team').addEventListener('change', manageList);
$('mc-new').addEventListener('click', () => manageEdit(null));
$('mc-close').addEventListener('click', () => $('manage-dialog').close());
$('mc-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = { title: $('mc-title').value.trim(), body: $('mc-body').value.trim(), lang: $('mc-lang').value };
  try {
    if (manage.editing) await api(`/api/canned/${manage.editing}`, { method: 'PUT', body, csrf: S.me.csrf });
    else await api(`/api/teams/${encodeURIComponent($('mc-team').value)}/canned`, { method: 'POST', body, csrf: S.me.csrf });
    $('mc-status').textContent = t('cannedSaved');
    manageEdit(null);
    await manageList();
  } catch (err) {
    $('mc-status').textContent = err.message;
  }
});

// ----------------------------------------------------------------- reading along
// Supervisors and admins see their teams' chats in progress and read one, read only: the
// console checks and decrypts its whole history as a takeover would, sends nothing, and
// the server audits the reading. The counsellor holding it notices nothing.
const reading = { item: null, timer: null, serial: 0 };

function oversees() {
  return ['admin', 'supervisor'].includes(S.me?.staff.role);
}

function teamChatsSoon() {
  if (!oversees()) return;
  clearTimeout(reading.timer);
  reading.timer = setTimeout(loadTeamChats, 300);
}

async function loadTeamChats() {
  const serial = ++reading.serial;
  const items = [];
  for (const team of S.keys.teams.keys()) {
    try {
      const data = await api(`/api/teams/${encodeURIComponent(team)}/chats`);
      for (const c of data.chats) if (c.counsellor?.id !== S.me.staff.id) items.push({ ...c, team });
    } catch (err) {
      $('team-chats-status').textContent = err.message;
    }
  }
  if (serial === reading.serial) renderTeamChats(items); // the latest answer wins
}

function teamChatLabel(c) {
  return `${topicName(c)} · ${c.counsellor?.name ?? t('formerColleague')}`;
}

function renderTeamChats(items) {
  $('team-chats-empty').hidden = items.length > 0;
  $('team-chats').replaceChildren(...items.map((c) => {
    const label = teamChatLabel(c);
    return chatItem(label, t('since', { time: clockText(c.accepted_at) }), t('readAlong'), `${t('readAlong')}: ${label}`, () => openReading(c), 'secondary');
  }));
}

async function openReading(item) {
  reading.item = item;
  $('read-info').textContent = teamChatLabel(item);
  $('read-log').replaceChildren();
  $('read-notes').replaceChildren();
  $('read-handovers').hidden = true;
  if (!$('read-dialog').open) $('read-dialog').showModal();
  await refreshReading();
}

async function refreshReading() {
  const item = reading.item;
  const status = $('read-status');
  status.textContent = t('working');
  try {
    const held = await S.desk.read(item.conversation, item.team);
    if (reading.item !== item) return;
    $('read-log').replaceChildren(...held.messages.map(messageItem));
    $('read-notes').replaceChildren(...held.notes.map(noteItem));
    $('read-handovers').hidden = held.handovers.length === 0;
    $('read-handovers').textContent = handoverText(held);
    $('read-empty').hidden = held.messages.length > 0;
    status.textContent = '';
  } catch (err) {
    status.textContent = err instanceof Refused ? err.message : t('problem', { code: err.code || err.reason || 'malformed' });
  }
}

$('read-refresh').addEventListener('click', refreshReading);
$('read-close').addEventListener('click', () => $('read-dialog').close());
$('read-dialog').addEventListener('close', () => {
  reading.item = null;
  $('read-log').replaceChildren(); // nothing decrypted stays in the page longer than shown
  $('read-notes').replaceChildren();
});
$('team-chats-refresh').addEventListener('click', loadTeamChats);

// ----------------------------------------------------------------- keyboard
document.addEventListener('keydown', (event) => {
  if (!event.altKey || event.ctrlKey || event.metaKey || $('desk').hidden) return;
  const key = event.code.startsWith('Key') ? event.code.slice(3).toLowerCase() : event.key.toLowerCase();
  const actions = {
    a: () => {
      const first = $('queue').querySelector('button');
      if (first) first.click();
    },
    q: () => $('queue').querySelector('button')?.focus() ?? $('queue-h').focus(),
    r: () => S.current && openCanned(),
    n: () => S.current && $('note-text').focus(),
    t: () => S.current && !$('act-transfer').disabled && $('act-transfer').click(),
    c: () => S.current && !$('act-close').disabled && $('act-close').click(),
    b: () => S.current && !$('act-block').disabled && $('act-block').click(),
  };
  let action = actions[key];
  if (/^[1-9]$/.test(event.code.replace('Digit', ''))) {
    const cid = S.order[Number(event.code.replace('Digit', '')) - 1];
    action = cid ? () => select(cid).then(() => $('draft').focus()) : null;
  }
  if (!action) return;
  event.preventDefault();
  action();
});

function seen() {
  const chat = S.chats.get(S.current);
  if (!chat || !looking()) return;
  if (chat.unread) {
    chat.unread = 0;
    renderTabs();
  }
  updateTitle();
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && S.current) renderChat();
  seen();
});
window.addEventListener('focus', seen);

setInterval(() => S.hello && renderQueue(), 30000);

boot().catch((err) => {
  $('connection').textContent = err.message;
});
