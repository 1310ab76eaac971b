/* The duty console's state, in one place: what the page knows (the signed-in member, the
 * keys, the socket, the queue, who is on duty, the chats it holds) and which chat is shown.
 * Modules read `state` and change it through `update`, which then tells every subscriber.
 * Nothing here is written to the device: a reload starts from `initial()` again. */
import { language, translator } from './i18n.js';

/**
 * A chat this console holds, as its tab shows it.
 * @typedef {object} ChatTab
 * @property {any} held the desk's conversation (desk.js): messages, notes, handovers, team, topic
 * @property {number} unread the client's messages not seen yet
 * @property {string | null} ended the text key saying how it ended, or null while it goes on
 * @property {string | null} [problem] why its checks failed (the console stops using it then)
 */

/**
 * A colleague on duty, as presence frames name them.
 * @typedef {{name: string, status: string, chats: number}} Colleague
 */

/**
 * @typedef {object} ConsoleState
 * @property {'de' | 'en'} lang
 * @property {(key: string, vars?: Record<string, unknown>) => string} t the texts in `lang`
 * @property {any} me `/api/me`: the signed-in member, their teams and CSRF token
 * @property {import('./unlock.js').UnlockedKeys | null} keys what unlock() returned
 * @property {import('./desk.js').Desk | null} desk
 * @property {WebSocket | null} ws
 * @property {import('./drafts.js').Drafts | null} drafts
 * @property {any} hello the server's hello frame, once the socket is up
 * @property {Map<string, any>} queue conversation id -> queue item
 * @property {Map<string, Colleague>} presence staff id -> who is on duty
 * @property {Map<string, string>} people staff id -> name, of every team member (also those off duty)
 * @property {Map<string, string>} topics "team topic" -> the topic's name as the team set it
 * @property {Map<string, ChatTab>} chats conversation id -> the chat this console holds
 * @property {string[]} order conversation ids in tab order
 * @property {string | null} current the chat shown
 * @property {number} retry reconnections since the last hello
 * @property {Set<string>} late ids of sent messages whose ack is late (desk.js, ACK_LATE_MS)
 * @property {AudioContext | null} audio
 * @property {Map<string, any[]>} canned team -> its canned replies
 * @property {number} typingSent when "typing" was last sent (ms), 0 when not typing
 * @property {ReturnType<typeof setTimeout> | null} typingTimer
 */

/** @returns {ConsoleState} the state of a page that has just loaded */
function initial() {
  const lang = language();
  return {
    lang,
    t: translator(lang),
    me: null,
    keys: null,
    desk: null,
    ws: null,
    drafts: null,
    hello: null,
    queue: new Map(),
    presence: new Map(),
    people: new Map(),
    topics: new Map(),
    chats: new Map(),
    order: [],
    current: null,
    retry: 0,
    late: new Set(),
    audio: null,
    canned: new Map(),
    typingSent: 0,
    typingTimer: null,
  };
}

/** The console's state; read it anywhere, change it with `update`. */
export const state = initial();

/** @type {Set<(state: ConsoleState) => void>} */
const listeners = new Set();

/**
 * Changes the state: `change` gets it to change in place, then every subscriber is told.
 * @template T
 * @param {(state: ConsoleState) => T} change
 * @returns {T} what `change` returned
 */
export function update(change) {
  const result = change(state);
  for (const listener of listeners) listener(state);
  return result;
}

/**
 * Sets some fields of the state (an update).
 * @param {Partial<ConsoleState>} changes
 */
export function set(changes) {
  update((s) => Object.assign(s, changes));
}

/**
 * Calls `listener` after every update; returns the function that stops it.
 * @param {(state: ConsoleState) => void} listener
 * @returns {() => void}
 */
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
