/* Notices: a tone when someone joins the queue or a client writes while the counsellor
 * looks elsewhere, and desktop notices that never say anything of a conversation. */
import { chatLabel } from './chats.js';
import { $, announce, looking, t, topicName } from './dom.js';
import { set, state } from './store.js';

/** Makes the page's sound possible (browsers allow it after a click or a key). */
export function wakeAudio() {
  if (!state.audio && 'AudioContext' in window) set({ audio: new AudioContext() });
}

function beep(frequency) {
  const ctx = state.audio;
  if (!ctx) return;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.frequency.value = frequency;
  gain.gain.setValueAtTime(0.15, ctx.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.4);
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  osc.stop(ctx.currentTime + 0.4);
}

/** Someone joined the queue: a tone, an announcement and, with permission, a desktop notice. */
export function notifyWaiting(item) {
  beep(660);
  const text = t('newClient', { topic: topicName(item) });
  announce(text);
  if ('Notification' in window && Notification.permission === 'granted' && (document.hidden || !document.hasFocus())) {
    // No content of the chat: only that someone waits, and the topic.
    new Notification(t('title'), { body: text, tag: 'cc-queue', silent: true });
  }
}

// A client wrote while the counsellor looks elsewhere: a lower tone and, with permission,
// a desktop notice naming only the chat's tab, never what was written.
export function notifyMessage(cid) {
  if (looking()) return;
  beep(440);
  if ('Notification' in window && Notification.permission === 'granted') {
    new Notification(t('title'), { body: t('newMessage', { chat: chatLabel(cid) }), tag: `cc-chat-${cid}`, silent: true });
  }
}

$('notices').addEventListener('click', async () => {
  wakeAudio();
  if ('Notification' in window && Notification.permission !== 'granted') await Notification.requestPermission();
  if ('Notification' in window && Notification.permission === 'granted') announce(t('noticesOn'));
});

