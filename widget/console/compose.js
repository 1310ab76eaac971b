/* Writing in the chat shown: the reply (Enter sends, Shift+Enter is a new line; a reply
 * that could not be sent goes back into the field), the draft kept per chat, the typing
 * notice, and internal notes. */
import { $, announce, t } from './dom.js';
import { set, state } from './store.js';

$('compose').addEventListener('submit', async (event) => {
  event.preventDefault();
  const cid = state.current;
  const text = $('draft').value.trim();
  if (!cid || !text) return;
  $('draft').value = '';
  await state.drafts.set(cid, '');
  state.desk.typing(cid, false);
  set({ typingSent: 0 });
  try {
    await state.desk.say(cid, text);
  } catch {
    const back = state.drafts.get(cid);
    const restored = back ? `${text}\n${back}` : text;
    await state.drafts.set(cid, restored);
    if (state.current === cid) $('draft').value = restored;
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
  const cid = state.current;
  if (!cid) return;
  state.drafts.set(cid, $('draft').value);
  const now = Date.now();
  if (now - state.typingSent > 3000) {
    set({ typingSent: now });
    state.desk.typing(cid, true);
  }
  clearTimeout(state.typingTimer);
  set({
    typingTimer: setTimeout(() => {
      set({ typingSent: 0 });
      state.desk.typing(cid, false);
    }, 5000),
  });
});

$('note-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('note-text').value.trim();
  if (!text || !state.current) return;
  try {
    await state.desk.note(state.current, text);
    $('note-text').value = '';
  } catch (err) {
    $('chat-status').textContent = err.message;
  }
});
