/* Reading along: supervisors and admins see their teams' chats in progress and read one,
 * read only. */
import { $, t, topicName } from './dom.js';
import { clockText, handoverText, messageItem, noteItem } from './messages.js';
import { chatItem } from './queue.js';
import { state } from './store.js';
import { Refused, api } from '/widget/shared/session.js';

// Supervisors and admins see their teams' chats in progress and read one, read only: the
// console checks and decrypts its whole history as a takeover would, sends nothing, and
// the server audits the reading. The counsellor holding it notices nothing.
const reading = { item: null, timer: null, serial: 0 };

/** Whether this member may read along (a supervisor or an admin). */
export function oversees() {
  return ['admin', 'supervisor'].includes(state.me?.staff.role);
}

/** Reloads the team chats list shortly (several frames in a row load it once). */
export function teamChatsSoon() {
  if (!oversees()) return;
  clearTimeout(reading.timer);
  reading.timer = setTimeout(loadTeamChats, 300);
}

async function loadTeamChats() {
  const serial = ++reading.serial;
  const items = [];
  for (const team of state.keys.teams.keys()) {
    try {
      const data = await api(`/api/teams/${encodeURIComponent(team)}/chats`);
      for (const c of data.chats) if (c.counsellor?.id !== state.me.staff.id) items.push({ ...c, team });
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
    const held = await state.desk.read(item.conversation, item.team);
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
