/* The side column: the queue (who waits, the topic and how long; accept), who is on duty,
 * and the browser tab's title with the count. */
import { select } from './chats.js';
import { $, announce, t, topicName, updateTitle } from './dom.js';
import { state } from './store.js';

function minutes(since) {
  const m = Math.floor((Date.now() - since) / 60000);
  return m < 1 ? t('seconds') : t('minutes', { n: m });
}

export function renderQueue() {
  const items = [...state.queue.values()].sort((a, b) => a.waiting_since - b.waiting_since);
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
export function chatItem(label, since, action, actionLabel, onClick, className = '') {
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

export function renderShift() {
  const people = [...state.presence.values()].sort((a, b) => a.name.localeCompare(b.name));
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

/** A colleague's name ("you" for this member), also of those off duty now. */
/** Accepts the chat `cid` from the queue (`button` is disabled meanwhile) and shows it. */
export async function acceptChat(cid, button) {
  const status = $('chat-status');
  const team = state.queue.get(cid)?.team;
  if (team && !state.keys.teams.has(team)) {
    // A team this account joined after the keys were unlocked: its keys come with the next unlock.
    const text = t('newTeam', { team });
    announce(text);
    $('connection').textContent = text;
    return;
  }
  if (button) button.disabled = true;
  try {
    const held = await state.desk.accept(cid);
    select(held.cid);
  } catch (err) {
    const text = err.code === 'already_taken' ? t('taken') : err.code === 'cap_reached' ? t('capReached', { cap: state.hello.cap }) : err.message;
    announce(text);
    status.textContent = text;
    $('connection').textContent = text;
    if (button) button.disabled = false;
  }
}

/** The tab's title: how many wait, and how many messages are new. */
$('availability').addEventListener('change', () => {
  state.ws?.send(JSON.stringify({ type: 'availability', status: $('availability').value }));
});

