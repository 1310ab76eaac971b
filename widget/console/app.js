/* The duty console page: sign-in, unlock, queue, chats, notes, transfer, close, block,
 * notices. This module starts it and holds what spans the page (its language, the keyboard
 * shortcuts, noticing that the counsellor looks again); each part is its own module, and
 * the state they share is store.js. The end-to-end part is desk.js; the page only shows
 * and asks. Every text from a client or colleague goes into the page with textContent,
 * never as markup. */
import './actions.js';
import { openCanned } from './canned.js';
import { renderChat, renderTabs, select } from './chats.js';
import './compose.js';
import { $, looking, t, updateTitle } from './dom.js';
import { CATEGORIES, translator } from './i18n.js';
import { renderQueue, renderShift } from './queue.js';
import './reading.js';
import { boot } from './signin.js';
import { set, state, update } from './store.js';

// ----------------------------------------------------------------- language
/** Writes every text of the page in the chosen language. */
function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.title = t('title');
  for (const el of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('[data-t]'))) el.textContent = t(el.dataset.t);
  $('lang').lang = state.lang === 'de' ? 'en' : 'de';
  fillCategories();
  if (state.hello) {
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
  const lang = state.lang === 'de' ? 'en' : 'de';
  localStorage.setItem('cc-console-lang', lang);
  set({ lang, t: translator(lang) });
  applyLanguage();
});
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
    r: () => state.current && openCanned(),
    n: () => state.current && $('note-text').focus(),
    t: () => state.current && !$('act-transfer').disabled && $('act-transfer').click(),
    c: () => state.current && !$('act-close').disabled && $('act-close').click(),
    b: () => state.current && !$('act-block').disabled && $('act-block').click(),
  };
  let action = actions[key];
  if (/^[1-9]$/.test(event.code.replace('Digit', ''))) {
    const cid = state.order[Number(event.code.replace('Digit', '')) - 1];
    action = cid ? () => select(cid).then(() => $('draft').focus()) : null;
  }
  if (!action) return;
  event.preventDefault();
  action();
});

function seen() {
  const chat = state.chats.get(state.current);
  if (!chat || !looking()) return;
  if (chat.unread) {
    update(() => (chat.unread = 0));
    renderTabs();
  }
  updateTitle();
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && state.current) renderChat();
  seen();
});
window.addEventListener('focus', seen);

setInterval(() => state.hello && renderQueue(), 30000);

// A page that has just loaded: its texts, then the invitation, the sign-in or the unlock.
(async () => {
  applyLanguage();
  await boot();
})().catch((err) => {
  $('connection').textContent = err.message;
});
