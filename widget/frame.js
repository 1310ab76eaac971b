/* The chat page in the iframe (docs/widget.md): views, socket, quick exit, loader talk.
 * Settings come in the fragment (lang, pin, topic, host); text only via textContent. */
import * as e2e from './shared/e2e-core.js';
import { CONSENT_VERSION, pickLanguage, t, waitWords } from './i18n.js';
import { Chat, sessionStore, tabStorage } from './chat-core.js';

/** @returns {HTMLInputElement & HTMLDialogElement} */
const $ = (id) => /** @type {any} */ (document.getElementById(id));
const params = new URLSearchParams(location.hash.slice(1));
const team = decodeURIComponent(location.pathname.split('/').pop());
const host = params.get('host');
const store = sessionStore(tabStorage());
let lang = pickLanguage(params.get('lang'), navigator.language);
/** @type {Chat | null} */
let chat = null;
let ws = null;
let retry = 1000;
let retryTimer = null;
let eraseTimer = null;
let lastEscape = 0;
let exiting = false;
let typingSent = 0;
let typingTimer = null;
let seenEpoch = null; // the highest team epoch this tab has seen
let offerSave = false; // status `transcript`
let teamConsent = null; // status `consent`: the team's own text, {label, de, en}
const shown = new Map(); // message key -> status element

// Sets `key`'s text, remembered for a change of language.
function say(e, key, vars) {
  e.dataset.t = key;
  if (vars) e.dataset.v = JSON.stringify(vars);
  e.textContent = t(lang, key, vars);
}

function el(tag, cls, key, vars, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (key) say(e, key, vars);
  if (text) e.textContent = text;
  return e;
}

function applyLanguage() {
  document.documentElement.lang = lang;
  for (const e of /** @type {any} */ (document.querySelectorAll('[data-t]'))) {
    e.textContent = t(lang, e.dataset.t, e.dataset.v ? JSON.parse(e.dataset.v) : undefined);
  }
  $('feed').setAttribute('aria-label', t(lang, 'log'));
  $('consent').replaceChildren(...t(lang, 'consent').map((line) => el('li', '', '', 0, line)));
  if (teamConsent) $('team-consent').textContent = teamConsent[lang];
}

function view(name) {
  for (const v of /** @type {any} */ (document.querySelectorAll('main > section'))) v.hidden = v.id !== `v-${name}`;
  const section = $(`v-${name}`);
  (/** @type {any} */ (section.querySelector('button, textarea')) || section).focus(); // the refusal has no control
}

function tellHost(msg) {
  if (host && window.parent !== window) window.parent.postMessage(msg, host);
}

function newChat() {
  const chosen = /** @type {any} */ (document.querySelector('#topics input:checked'))?.value;
  chat = new Chat({
    store, transmit, emit, team, topic: params.get('topic') || chosen || null, pin: params.get('pin') || null,
    consent: teamConsent?.label ?? CONSENT_VERSION, minEpoch: seenEpoch, fetchBundle,
  });
}

const get = (what) => fetch(`/api/teams/${encodeURIComponent(team)}/${what}`, {
  cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
});

// A rekey's epoch: its bundle, for the chat core to check.
async function fetchBundle(epoch) {
  const response = await get(`bundle?epoch=${epoch}`);
  if (!response.ok) throw new Error('unavailable');
  return response.json();
}

function transmit(frame) {
  if (!ws || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(frame));
  return true;
}

const socket = () => new WebSocket(`${location.origin.replace(/^http/, 'ws')}/ws/client`);

function connect() {
  clearTimeout(retryTimer);
  retryTimer = null;
  ws = socket();
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (!chat) return;
    if (frame.type === 'hello') {
      retry = 1000;
      chat.connected(frame);
    } else chat.onFrame(frame);
  };
  ws.onclose = () => {
    ws = null;
    if (!chat || exiting || ended.has(chat.state) || chat.state === 'gone') return;
    say($('status'), 'offline');
    retryTimer = setTimeout(connect, retry);
    retry = Math.min(retry * 2, 30000);
  };
}

const ended = new Set(['closed', 'abandoned', 'deleted']);

function emit(event, data) {
  if (exiting) {
    if (event === 'state' && ended.has(data.state)) for (const wait of waiters.splice(0)) wait();
    return;
  }
  const log = $('log');
  switch (event) {
    case 'message': {
      $('typing').hidden = true;
      const li = el('li', data.who);
      li.append(el('span', 'who', data.who), el('p', '', '', 0, data.text));
      if (data.who === 'me') {
        const st = el('span', 'st', data.status);
        li.append(st);
        shown.set(data.key, st);
      }
      log.append(li);
      li.scrollIntoView({ block: 'nearest' });
      break;
    }
    case 'status': {
      const st = shown.get(data.key);
      if (st) say(st, data.status);
      break;
    }
    case 'position':
      say($('status'), 'position', { n: data.position });
      // undefined: not said yet (`started`); null: the server cannot say.
      $('wait').hidden = data.estimate === undefined;
      if (data.estimate !== undefined) say($('wait'), ...waitWords(data.estimate));
      break;
    case 'typing':
      $('typing').hidden = !data.active;
      clearTimeout(typingTimer);
      if (data.active) typingTimer = setTimeout(() => ($('typing').hidden = true), 8000);
      break;
    case 'state': {
      if (data.state === 'deleted') return gone();
      if (data.state !== 'waiting') $('wait').hidden = true;
      if (data.reason === 'blocked') noDelete();
      else $('del').hidden = false;
      $('save').hidden = !offerSave;
      const key = { waiting: data.reason === 'transferred' ? 'transferred' : 'waiting', active: 'active',
        abandoned: 'ended',
        closed: data.reason === 'blocked' ? 'blocked' : data.clean ? 'ended' : 'endedUnconfirmed' }[data.state];
      if (key) say($('status'), key);
      const was = $('compose').hidden;
      finished(ended.has(data.state));
      if (was && !$('compose').hidden) $('text').focus();
      for (const wait of waiters.splice(0)) if (ended.has(data.state)) wait();
      break;
    }
    case 'problem': {
      // A list holds only list items: the alert goes inside one.
      const li = el('li', 'problem');
      const why = el('span', '', 'problem', { why: data.why || t(lang, data.code) });
      why.setAttribute('role', 'alert');
      li.append(why);
      log.append(li);
      break;
    }
    case 'fatal':
      if (data.code === 'closed') return status().then(closedView);
      if (eraseTimer && data.code === 'notFound') return gone(); // deleted already
      say($('status'), data.code);
      $('wait').hidden = true;
      noDelete();
      finished(true);
      break;
    case 'delFailed':
      unerase(data.held);
      break;
  }
}

function finished(done) {
  const held = $('compose').contains(document.activeElement) || document.activeElement === $('end');
  $('compose').hidden = done;
  $('end').hidden = done;
  $('again').hidden = !done;
  if (held && done) $('again').focus(); // the focus is not lost with the hidden form
}

const waiters = [];

function chatView() {
  view('chat');
  $('wait').hidden = $('del').hidden = $('save').hidden = true;
  $('saved').textContent = '';
  say($('status'), 'checking');
  finished(true);
  $('again').hidden = true;
  newChat();
}

async function begin() {
  chatView();
  try {
    const response = await get('bundle');
    if (response.status === 404) return status().then((s) => closedView({ ...s, paused: true }));
    if (!response.ok) return refuse('unavailable');
    const bundle = await chat.checkBundle(await response.json());
    seenEpoch = bundle.epoch;
    if (!chat.pin) {
      $('number').textContent = await e2e.safetyNumber(bundle.rPub);
      $('safety').hidden = false;
    }
    await chat.create();
  } catch (err) {
    return refuse(err.reason || 'unavailable');
  }
  connect();
}

function refuse(reason) {
  chat = null;
  say($('reason'), reason in { unavailable: 1, ...e2e.REASONS } ? reason : 'malformed');
  view('refused');
}

async function resume() {
  chatView();
  try {
    if (!(await chat.restore())) return fresh();
    seenEpoch = Math.max(seenEpoch ?? 0, chat.bundle.epoch);
  } catch (err) {
    return refuse(err.reason || 'malformed');
  }
  connect();
}

// "No, leave it": wipe, and end the chat without fetching its history.
function decline() {
  const saved = store.load();
  fresh();
  if (!saved?.cid) return;
  const sock = socket();
  sock.onmessage = (event) => {
    const f = JSON.parse(event.data);
    const send = (frame) => sock.send(JSON.stringify(frame));
    if (f.type === 'hello') send({ type: 'resume', conversation: saved.cid, token: saved.token, last_seq: Number.MAX_SAFE_INTEGER });
    else if (f.type === 'resumed' && !ended.has(f.state)) send({ type: 'close' });
    else if (f.type !== 'message') sock.close();
  };
}

function fresh() {
  store.wipe();
  chat = null;
  $('log').replaceChildren();
  shown.clear();
  view('consent');
}

// Quick exit (docs/widget.md).
async function quickExit() {
  if (exiting) return;
  exiting = true;
  store.wipe();
  document.body.replaceChildren();
  if (chat && ws?.readyState === WebSocket.OPEN) {
    const closed = new Promise((resolve) => waiters.push(resolve));
    await Promise.race([chat.leave().then(() => closed), new Promise((r) => setTimeout(r, 1500))]);
  }
  chat?.wipe();
  chat = null;
  ws?.close();
  store.wipe();
  tellHost({ cc: 'exit' });
}

// Self-delete, confirmed; only the server's `deleted` wipes (docs/widget.md).
function erase() {
  if (!chat?.saved) return;
  $('erase').disabled = true;
  $('del-error').hidden = true;
  chat.remove();
  if (!ws) connect(); // an ended chat does not reconnect by itself; `resumed` sends it
  eraseTimer = setTimeout(unerase, 10000);
}

// Not deleted; under a legal hold a retry will not help (docs/widget.md).
function unerase(held) {
  clearTimeout(eraseTimer);
  eraseTimer = null;
  if (chat) chat.removing = false;
  $('erase').disabled = false;
  say($('del-error'), held ? 'delHeld' : 'delFailed');
  $('del-error').hidden = false;
  $(held ? 'keep' : 'erase').focus();
}

// The transcript: a file made from what the page shows; no request (docs/widget.md).
function saveFile() {
  const lines = [`${t(lang, 'title')}, ${new Date().toLocaleString(lang)}`];
  for (const li of $('log').children) {
    const p = li.querySelector('p');
    lines.push('', p ? `${li.firstChild.textContent}: ${p.textContent}` : li.textContent);
  }
  const a = el('a');
  a.href = URL.createObjectURL(new Blob([lines.join('\n') + '\n'], { type: 'text/plain;charset=utf-8' }));
  a.download = `chat-${new Date().toISOString().slice(0, 10)}.txt`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  back('save');
  say($('saved'), 'saved');
}

function back(id) {
  view('chat');
  $(id).focus();
}

// Nothing to delete (blocked, gone).
function noDelete() {
  $('del').hidden = true;
  clearTimeout(eraseTimer);
  eraseTimer = null;
  if (!$('v-delete').hidden) view('chat');
}

// Deleted on the server: forget every key and text.
function gone() {
  clearTimeout(eraseTimer);
  eraseTimer = null;
  const c = chat;
  chat = null; // first: the socket's close does not reconnect
  c?.wipe();
  store.wipe();
  ws?.close();
  $('log').replaceChildren();
  shown.clear();
  $('erase').disabled = false;
  view('deleted');
  $('v-deleted').focus();
}

function typing() {
  const now = Date.now();
  if (now - typingSent > 3000) {
    typingSent = now;
    chat?.typing(true);
  }
}

$('compose').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (!text || !chat?.saved) return;
  $('text').value = '';
  typingSent = 0;
  chat.typing(false);
  chat.say(text);
});
$('text').addEventListener('input', typing);
$('text').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault();
    /** @type {HTMLFormElement} */ (document.getElementById('compose')).requestSubmit();
  }
});
$('agree').addEventListener('click', begin);
$('yes').addEventListener('click', resume);
$('no').addEventListener('click', decline);
$('again').addEventListener('click', fresh);
$('new').addEventListener('click', fresh);
$('del').addEventListener('click', () => {
  $('del-error').hidden = true;
  view('delete');
});
$('keep').addEventListener('click', () => back('del'));
$('save').addEventListener('click', () => view('save'));
$('save-no').addEventListener('click', () => back('save'));
$('save-yes').addEventListener('click', saveFile);
$('erase').addEventListener('click', erase);
$('end').addEventListener('click', () => chat?.end());
$('exit').addEventListener('click', quickExit);
$('min').addEventListener('click', () => tellHost({ cc: 'close' }));
document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape') return;
  const now = Date.now();
  if (now - lastEscape < 1500) quickExit();
  lastEscape = now;
});
// Back online: reconnect now rather than at the end of the back-off.
window.addEventListener('online', () => retryTimer && connect());
window.addEventListener('message', (event) => {
  if (event.source !== window.parent || event.origin !== host) return;
  const m = event.data;
  if (!m || typeof m !== 'object') return;
  if (m.cc === 'lang') {
    lang = pickLanguage(m.lang);
    applyLanguage();
  } else if (m.cc === 'exit') quickExit();
  else if (m.cc === 'open') /** @type {any} */ (document.querySelector('main section:not([hidden]) button, #text'))?.focus();
});

// GET …/status: hours, closed message, emergency contacts, topics, transcript.
async function status() {
  const response = await get(`status?lang=${lang}`);
  return response.ok ? response.json() : null;
}

// Outside the hours: the admin's message and whom to call now.
function closedView(s) {
  chat = null;
  store.wipe();
  if (s?.paused) say($('closed-text'), 'paused');
  else $('closed-text').textContent = s?.closed_message ?? '';
  $('hours').hidden = !s?.hours_text || s.paused;
  if (s?.hours_text) say($('hours'), 'hours', { hours: s.hours_text });
  $('emergency').replaceChildren(...(s?.emergency ?? []).map((c) => {
    const li = el('li');
    li.append(`${c.name}: `);
    if (c.number) {
      const a = el('a', '', '', 0, c.number);
      a.href = `tel:${c.number.replace(/[^0-9+]/g, '')}`;
      li.append(a, ' ');
    }
    if (c.link) {
      const a = el('a', '', '', 0, new URL(c.link).host);
      a.href = c.link;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      li.append(a);
    }
    return li;
  }));
  view('closed');
}

function topicChoice(s) {
  const topics = s?.topics ?? [];
  if (params.get('topic') || topics.length < 2) return;
  $('topics').append(...topics.map((topic) => {
    const label = el('label');
    const input = el('input');
    input.type = 'radio';
    input.name = 'topic';
    input.value = topic.slug;
    label.append(input, ` ${topic.name}`);
    return label;
  }));
  $('topics').hidden = false;
}

applyLanguage();
const known = status().catch(() => null);
known.then((s) => (offerSave = !!s?.transcript));
if (store.load()?.cid) view('continue');
else {
  known.then((s) => {
    if (s?.paused || (s && !s.open && !s.queue_outside_hours)) return closedView(s);
    topicChoice(s);
    teamConsent = s?.consent ?? null;
    $('team-consent').hidden = !teamConsent;
    applyLanguage();
    view('consent');
  });
}
tellHost({ cc: 'ready' });
