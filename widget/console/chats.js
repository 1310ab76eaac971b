/* The chats this console holds: their tabs (a tab list; arrow keys move between them), the
 * chat shown with its log, state, handover notes and internal notes, and removing a chat
 * that ended or went to a colleague. */
import { $, announce, t, topicName, updateTitle } from './dom.js';
import { handoverText, messageItem, noteItem } from './messages.js';
import { set, state, update } from './store.js';

/** A chat's tab label: its number and topic. */
export function chatLabel(cid) {
  const chat = state.chats.get(cid);
  const i = state.order.indexOf(cid) + 1;
  return t('chatTab', { n: i, topic: topicName(chat.held) });
}

export function renderTabs() {
  $('no-chats').hidden = state.order.length > 0;
  $('panel').hidden = !state.current;
  $('tabs').replaceChildren(...state.order.map((cid) => {
    const chat = state.chats.get(cid);
    const tab = document.createElement('button');
    tab.type = 'button';
    tab.setAttribute('role', 'tab');
    tab.id = `tab-${cid}`;
    tab.dataset.conversation = cid;
    tab.setAttribute('aria-controls', 'panel');
    tab.setAttribute('aria-selected', String(cid === state.current));
    tab.tabIndex = cid === state.current ? 0 : -1;
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
      const i = state.order.indexOf(cid);
      const next = event.key === 'ArrowRight' ? i + 1 : event.key === 'ArrowLeft' ? i - 1 : null;
      if (next === null) return;
      event.preventDefault();
      const target = state.order[(next + state.order.length) % state.order.length];
      select(target);
      $(`tab-${target}`)?.focus();
    });
    return tab;
  }));
  if (state.current) $('panel').setAttribute('aria-labelledby', `tab-${state.current}`);
}

/** Shows the chat `cid` (keeping the draft of the one shown before); its messages count as seen. */
export async function select(cid) {
  if (state.current && state.current !== cid && state.drafts) await state.drafts.set(state.current, $('draft').value);
  update((s) => {
    s.current = cid;
    const chat = s.chats.get(cid);
    if (chat) chat.unread = 0;
  });
  renderTabs();
  renderChat();
  updateTitle();
}

/** Shows the current chat: its log, draft, state, handover notes and notes. */
export function renderChat() {
  const chat = state.chats.get(state.current);
  $('panel').hidden = !chat;
  if (!chat) return;
  const held = chat.held;
  $('chat-info').textContent = [topicName(held), held.team].join(' · ');
  const log = $('log');
  log.setAttribute('aria-live', 'off'); // a switch is not news; new messages are
  log.replaceChildren();
  for (const m of held.messages) appendMessage(m);
  requestAnimationFrame(() => log.setAttribute('aria-live', 'polite'));
  $('draft').value = state.drafts?.get(state.current) ?? '';
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

export function appendMessage(m) {
  const log = $('log');
  log.append(messageItem(m));
  log.scrollTop = log.scrollHeight; // the list scrolls, not the page
}

export function renderNotes() {
  const chat = state.chats.get(state.current);
  if (!chat) return;
  $('notes').replaceChildren(...chat.held.notes.map(noteItem));
}

/** Takes the chat `cid` off the tabs (`why` is announced) and shows the next. */
export function dropChat(cid, why) {
  update((s) => {
    s.chats.delete(cid);
    s.order = s.order.filter((c) => c !== cid);
  });
  state.drafts?.set(cid, '');
  announce(t(why));
  if (state.current === cid) {
    set({ current: null });
    if (state.order.length) select(state.order[0]);
  }
  renderTabs();
  if (!state.current) $('panel').hidden = true;
}

$('act-remove').addEventListener('click', () => dropChat(state.current, 'ended'));
