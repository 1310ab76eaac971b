/* Canned replies: choosing one for the reply (Alt+R), and managing a team's replies
 * (admins and supervisors; the server checks the role). */
import { $, ask, t } from './dom.js';
import { state, update } from './store.js';
import { api } from '/widget/shared/session.js';

/** A team's canned replies, fetched once while the page lives. */
async function cannedFor(team) {
  if (!state.canned.has(team)) {
    const data = await api(`/api/teams/${encodeURIComponent(team)}/canned`);
    update((s) => s.canned.set(team, data.replies ?? []));
  }
  return state.canned.get(team);
}

/** The canned replies dialog (Alt+R): searchable; a choice goes into the reply where the cursor is. */
export async function openCanned() {
  const chat = state.chats.get(state.current);
  if (!chat || chat.ended) return;
  let items = [];
  try {
    items = await cannedFor(chat.held.team);
  } catch (err) {
    $('chat-status').textContent = err.message;
  }
  const own = items.filter((c) => !c.lang || c.lang === state.lang).concat(items.filter((c) => c.lang && c.lang !== state.lang));
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
  update((s) => s.canned.delete(team));
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
      await api(`/api/canned/${c.id}`, { method: 'DELETE', csrf: state.me.csrf });
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
  $('mc-lang').value = c?.lang ?? state.lang;
  $('mc-title').focus();
}

$('manage-canned').addEventListener('click', async () => {
  $('mc-team').replaceChildren(...state.me.teams.map((team) => new Option(team, team)));
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
    if (manage.editing) await api(`/api/canned/${manage.editing}`, { method: 'PUT', body, csrf: state.me.csrf });
    else await api(`/api/teams/${encodeURIComponent($('mc-team').value)}/canned`, { method: 'POST', body, csrf: state.me.csrf });
    $('mc-status').textContent = t('cannedSaved');
    manageEdit(null);
    await manageList();
  } catch (err) {
    $('mc-status').textContent = err.message;
  }
});
