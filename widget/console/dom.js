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
