/* What ends or moves the chat shown, each after a dialog: transfer to a colleague or the
 * queue (with a handover note), close (with an optional category for the statistics) and
 * block. */
import { $, ask, t } from './dom.js';
import { state } from './store.js';

$('act-transfer').addEventListener('click', async () => {
  const cid = state.current;
  const select = $('transfer-to');
  const colleagues = [...state.presence].filter(([, p]) => p.status !== 'offline');
  select.replaceChildren(new Option(t('toQueue'), ''), ...colleagues.map(([id, p]) => new Option(`${p.name} (${t(p.status)})`, id)));
  $('transfer-note').value = '';
  if (!(await ask('transfer-dialog'))) return $('act-transfer').focus();
  try {
    await state.desk.transfer(cid, select.value || null, $('transfer-note').value.trim() || null);
  } catch (err) {
    $('chat-status').textContent = err.message;
  }
});

$('act-close').addEventListener('click', async () => {
  const cid = state.current;
  $('close-category').value = '';
  if (!(await ask('close-dialog'))) return $('act-close').focus();
  try {
    await state.desk.close(cid, $('close-category').value || null);
  } catch (err) {
    $('chat-status').textContent = err.message;
  }
  $('act-remove').focus();
});

$('act-block').addEventListener('click', async () => {
  const cid = state.current;
  if (!(await ask('block-dialog'))) return $('act-block').focus();
  try {
    await state.desk.block(cid, Number($('block-hours').value));
  } catch (err) {
    $('chat-status').textContent = err.message;
  }
  $('act-remove').focus();
});
