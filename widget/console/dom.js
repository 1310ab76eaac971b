/* What every part of the console page uses to show and ask: its elements, its texts, the
 * screen reader's announcements, which section is shown, and the modal dialogs. */
import { state } from './store.js';

/**
 * The page's element with this id: its HTML has every id the code asks for. Typed as an
 * input and a dialog at once, so that `.value` or `.showModal()` need no cast while a
 * misspelt member is still an error (not HTMLFormElement: it takes any name).
 * @param {string} id
 * @returns {HTMLInputElement & HTMLDialogElement}
 */
export const $ = (id) => /** @type {any} */ (document.getElementById(id));

/**
 * The text `key` in the page's language, with `{name}` replaced from `vars`.
 * @param {string} key
 * @param {Record<string, unknown>} [vars]
 */
export const t = (key, vars) => state.t(key, vars);

/** Shows one section of the page (sign-in, invitation, unlock, TOTP, pin warning or the
 * desk) and focuses its first field. */
export function show(section) {
  for (const id of ['signin', 'invite', 'unlock', 'totp', 'pinwarn', 'desk']) $(id).hidden = id !== section;
  $('tools').hidden = section !== 'desk';
  const first = /** @type {HTMLElement | null} */ ($(section).querySelector('input:not([type=hidden]), button'));
  if (first && section !== 'desk') first.focus();
}

/** Tells screen-reader users something (the region is emptied first, so the same text
 * twice is said twice). */
export function announce(text) {
  const region = $('announce');
  region.textContent = '';
  requestAnimationFrame(() => {
    region.textContent = text;
  });
}

/** Whether the counsellor sees this page now (not another tab or window). */
export function looking() {
  return !document.hidden && document.hasFocus();
}

/** Opens a modal dialog of the page; resolves true when it closes with OK. */
export function ask(dialogId) {
  const dialog = $(dialogId);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = '';
    dialog.showModal();
  });
}

// ------------------------------------------------------------ names, the title, a reset
const NOTICE = 'cc-console-notice'; // sessionStorage: a notice to show after the page reset

/** How the console names a waiting or held chat: its topic (and team, for several teams). */
export function topicName(item) {
  const named = item.topic && state.topics.get(`${item.team} ${item.topic}`);
  const topic = named || (item.topic ? item.topic.charAt(0).toUpperCase() + item.topic.slice(1) : t('noTopic'));
  return state.me.teams.length > 1 ? `${topic} (${item.team})` : topic;
}

/** How the console names a colleague: "you", the name on shift or in the team, or "former colleague". */
export function nameOf(id) {
  if (id === state.me.staff.id) return t('you');
  return state.presence.get(id)?.name ?? state.people.get(id) ?? t('formerColleague');
}

/** The tab's title: the queue's length and the unread messages. */
export function updateTitle() {
  const n = state.queue.size;
  const unread = [...state.chats.values()].reduce((sum, chat) => sum + chat.unread, 0);
  const title = unread ? t('titleUnread', { n: unread }) : t('title');
  document.title = n ? `(${n}) ${title}` : title;
}

/** Reloads the console, showing `notice` (a text key) once it is back. */
export function resetPage(notice) {
  if (notice) sessionStorage.setItem(NOTICE, notice);
  state.ws?.close();
  location.replace('/console');
}

/** The notice a reset left for this page load, once. */
export function takeNotice() {
  const notice = sessionStorage.getItem(NOTICE);
  sessionStorage.removeItem(NOTICE);
  return notice;
}
