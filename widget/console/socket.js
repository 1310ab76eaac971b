/* The console's socket and what comes over it: the desk is started once the keys are
 * unlocked, the socket reconnects after a drop, and each frame (queue, presence, errors)
 * and each event of the desk (desk.js: chats held, messages, states, notes) is shown. */
import { appendMessage, chatLabel, dropChat, renderChat, renderNotes, renderTabs, select } from './chats.js';
import { ACK_LATE_MS, Desk } from './desk.js';
import { $, announce, looking, nameOf, resetPage, show, t, updateTitle } from './dom.js';
import { whoSaid } from './messages.js';
import { notifyMessage, notifyWaiting } from './notices.js';
import { renderQueue, renderShift } from './queue.js';
import { watchKeys } from './keys.js';
import { oversees, teamChatsSoon } from './reading.js';
import { set, state, update } from './store.js';
import { currentStaff } from '/widget/shared/session.js';

/** Starts the desk with the unlocked keys, shows it and connects. */
export function startDesk() {
  const k = state.keys;
  set({
    desk: new Desk({
      transmit: (frame) => state.ws?.readyState === WebSocket.OPEN && state.ws.send(JSON.stringify(frame)),
      emit: onDesk,
      me: { id: state.me.staff.id, sigPriv: k.sigPriv, sigPub: k.sigPub },
      teams: k.teams,
    }),
  });
  $('manage').hidden = !oversees();
  $('team-chats-box').hidden = !oversees();
  $('safety').textContent = [...k.teams].map(([team, v]) => t('safety', { team, safety: v.safety })).join(' · ');
  show('desk');
  connect();
}

/** Opens the console's socket; reconnects after a drop, or starts the page over when the
 * session ended or another window took the chats. */
function connect() {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/console`;
  const ws = new WebSocket(url);
  set({ ws });
  let fatal = null;
  let mine = null; // this socket's connection id, from its hello
  ws.onmessage = (event) => {
    if (fatal === 'openedElsewhere') return;
    const f = JSON.parse(event.data);
    if (f.type === 'error' && ['session_expired', 'unauthorized'].includes(f.code)) fatal = 'sessionEnded';
    if (f.type === 'hello') mine = f.connection;
    if (f.type === 'console_opened' && mine && f.connection !== mine) {
      // Another window or device of this account opened the console: it holds the chats
      // now (their counters move on there). This page stops and offers to unlock again.
      fatal = 'openedElsewhere';
      state.desk.disconnected();
      ws.close();
      return;
    }
    onFrame(f);
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.desk.disconnected();
    if (fatal) return resetPage(fatal);
    $('connection').textContent = t('reconnecting');
    const delay = [500, 1000, 2000, 5000, 10000][Math.min(update((s) => s.retry++), 4)];
    setTimeout(async () => {
      if (!(await currentStaff())) return resetPage('sessionEnded');
      connect();
    }, delay);
  };
}

/** A frame from the server: the desk's first, then what the page shows of it. */
function onFrame(f) {
  state.desk.onFrame(f);
  switch (f.type) {
    case 'hello':
      update((s) => {
        s.hello = f;
        s.retry = 0;
        s.late.clear(); // requests of the old socket failed; what they sent is fetched anew
        s.queue.clear();
        s.presence.clear();
      });
      $('connection').textContent = '';
      state.ws.send(JSON.stringify({ type: 'availability', status: $('availability').value }));
      renderShift();
      teamChatsSoon();
      watchKeys();
      break;
    case 'queue':
      set({ queue: new Map(f.items.map((item) => [item.conversation, item])) });
      renderQueue();
      break;
    case 'queued':
      update((s) => s.queue.set(f.item.conversation, f.item));
      renderQueue();
      notifyWaiting(f.item);
      break;
    case 'dequeued':
      update((s) => s.queue.delete(f.conversation));
      renderQueue();
      teamChatsSoon();
      break;
    case 'presence':
      if (f.staff === state.me.staff.id) break; // our own, as the team hears it
      update((s) => {
        if (f.status === 'offline') s.presence.delete(f.staff);
        else s.presence.set(f.staff, { name: f.name, status: f.status, chats: f.chats });
        s.people.set(f.staff, f.name);
      });
      renderShift();
      teamChatsSoon(); // a colleague's number of chats changed
      break;
    case 'error':
      if (!f.answers || !['accept', 'send', 'envelope', 'envelopes', 'transfer', 'close', 'block'].includes(f.answers)) $('connection').textContent = f.message;
      break;
  }
}

/** Events of the desk (desk.js): chats held, messages, states, notes, problems. */
function onDesk(event, d) {
  const chat = d.cid ? state.chats.get(d.cid) : null;
  switch (event) {
    case 'held': {
      update((s) => {
        const existing = s.chats.get(d.cid);
        if (existing) {
          existing.held = d.held;
          existing.ended = null;
        } else {
          s.chats.set(d.cid, { held: d.held, unread: 0, ended: null, problem: null });
          s.order.push(d.cid);
        }
      });
      if (d.by) announce(t('transferredIn', { name: nameOf(d.by) }));
      if (!state.current) select(d.cid);
      else if (state.current === d.cid) renderChat();
      renderTabs();
      break;
    }
    case 'message':
      if (!chat) break;
      if (d.cid === state.current && !document.hidden) appendMessage(d.message);
      if (d.message.sender === 'client' && (d.cid !== state.current || !looking())) {
        update(() => (chat.unread += 1));
        if (d.cid !== state.current) announce(`${chatLabel(d.cid)}: ${t('unread', { n: chat.unread })}`);
        notifyMessage(d.cid);
      }
      if (d.cid === state.current && d.message.sender === 'client') $('typing').textContent = '';
      renderTabs();
      updateTitle();
      break;
    case 'status':
      if (d.cid === state.current) {
        const meta = $('log').querySelector(`li[data-id="${CSS.escape(d.id)}"] .meta`);
        const message = chat?.held.messages.find((m) => m.id === d.id);
        if (meta && message) meta.textContent = whoSaid(message);
      }
      break;
    case 'typing':
      if (d.cid === state.current) $('typing').textContent = d.active ? t('typing') : '';
      break;
    case 'state':
      if (!chat) break;
      if (d.state !== 'active') update(() => (chat.ended = endedText(d)));
      if (d.cid === state.current) renderChat();
      renderTabs();
      break;
    case 'released':
      if (!chat) break;
      if (d.reason === 'transferred' || d.reason === 'member_removed') return dropChat(d.cid, 'released');
      update(() => (chat.ended = chat.ended ?? 'ended'));
      if (d.cid === state.current) renderChat();
      renderTabs();
      break;
    case 'note':
      if (d.cid === state.current) renderNotes();
      break;
    case 'problem':
      if (chat) {
        update(() => (chat.problem = d.err?.code || d.err?.reason || 'malformed'));
        if (d.cid === state.current) $('chat-status').textContent = t('problem', { code: chat.problem });
      }
      break;
    case 'clientClosed':
      break;
    case 'ackLate':
      update((s) => s.late.add(d.id));
      $('connection').textContent = t('ackLate', { seconds: ACK_LATE_MS / 1000 });
      break;
    case 'acked':
      if (!state.late.has(d.id)) break;
      update((s) => s.late.delete(d.id));
      if (state.late.size === 0) $('connection').textContent = '';
      break;
  }
}

/** Why a held chat ended, as a text key: a client's close without its final counts (or
 * with counts that do not match, which is also a problem) is said plainly, since
 * messages may be missing on either side. */
function endedText(d) {
  if (d.state === 'deleted') return 'deleted';
  if (d.reason === 'idle') return 'endedIdle';
  if (d.reason === 'client_closed') return d.confirmed ? 'endedClient' : 'endedUnconfirmed';
  return 'ended';
}
