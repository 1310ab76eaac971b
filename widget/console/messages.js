/* How messages and notes look, in a chat the console holds and in one it reads along:
 * who wrote (and the message's state), when, and the text, always as textContent. */
import { nameOf, t } from './dom.js';
import { state } from './store.js';

// "Client", "You · read", "Anna · stored" (a colleague's message in a chat taken over).
export function whoSaid(m) {
  if (m.sender !== 'team') return t('client');
  return `${m.author ? nameOf(m.author) : t('you')} · ${t(m.status ?? 'stored')}`;
}

// When: the time today, the date and time before.
export function clockText(at) {
  const when = new Date(at);
  const today = new Date().toDateString() === when.toDateString();
  /** @type {Intl.DateTimeFormatOptions} */
  const options = today ? { hour: '2-digit', minute: '2-digit' } : { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' };
  return new Intl.DateTimeFormat(state.lang === 'de' ? 'de-DE' : 'en-GB', options).format(when);
}

// The head of a message or note: who (and its state), and when.
function head(who, at) {
  const line = document.createElement('span');
  line.className = 'head';
  const meta = document.createElement('span');
  meta.className = 'meta';
  meta.textContent = who;
  line.append(meta);
  if (at) {
    const time = document.createElement('time');
    time.className = 'at';
    time.dateTime = new Date(at).toISOString();
    time.textContent = clockText(at);
    line.append(time);
  }
  return line;
}

/** A message of a chat's log: who, when and the text. */
export function messageItem(m) {
  const li = document.createElement('li');
  li.className = m.sender;
  li.dataset.id = m.id;
  const text = document.createElement('p');
  text.className = 'text';
  text.textContent = m.text;
  li.append(head(whoSaid(m), m.at), text);
  return li;
}

/** An internal note: who, when and the text. */
export function noteItem(note) {
  const li = document.createElement('li');
  li.append(head(nameOf(note.author), note.at), note.text);
  return li;
}

/** The handover notes of a held chat, one a line. */
export function handoverText(held) {
  return held.handovers.map((h) => `${t('handover', { name: nameOf(h.author) })}: ${h.text}`).join('\n');
}
