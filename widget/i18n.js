/* Every text of the chat page, one catalogue per language (German with the informal
 * "Du"), including the core's problems and e2e.js's reasons (English falls back to its
 * REASONS). */
import { REASONS } from './e2e-core.js';

// The version of the consent text below: sent with `start`, stored by the server.
export const CONSENT_VERSION = 'w1';

const en = {
  title: 'Counselling chat',
  exit: 'Quick exit',
  exitHint: 'Leaves at once: press Escape twice or use this button.',
  close: 'Minimise',
  consentTitle: 'Before you start',
  consent: [
    'No name or account needed.',
    'Your messages are end-to-end encrypted: only the counselling team can read them, not the server’s operators.',
    'The server keeps the encrypted chat only as long as the service’s deletion rules allow.',
    'The chat’s key stays in this tab only; quick exit wipes it.',
  ],
  agree: 'I agree, start the chat',
  continueTitle: 'Continue?',
  continueText: 'Do you want to continue where you left off?',
  continueYes: 'Continue',
  continueNo: 'No, leave it',
  checking: 'Connecting securely…',
  safety: 'Safety number of the team key (compare it with the service’s website):',
  refused: 'The chat cannot start safely.',
  waiting: 'Waiting for a counsellor.',
  position: 'You are number {n} in the queue.',
  active: 'A counsellor is with you now.',
  transferred: 'Your chat is being passed on to a colleague. Please wait a moment.',
  ended: 'The chat has ended.',
  endedUnconfirmed: 'The chat has ended without confirmation: the last messages may be missing.',
  deleted: 'The conversation has been deleted.',
  wait: 'Waiting time: about {n} minutes.',
  waitMinute: 'Waiting time: about a minute.',
  waitHour: 'Waiting time: an hour or more.',
  waitUnknown: 'We cannot say how long it will take right now.',
  del: 'Delete this chat',
  delTitle: 'Delete this chat?',
  delText: 'The conversation is deleted on the server now: all messages, the team’s notes and the keys. Nobody can restore it, not even the team.',
  delYes: 'Yes, delete it',
  delNo: 'No, keep it',
  delFailed: 'The chat could not be deleted. Check your connection and try again.',
  offline: 'Connection lost. Reconnecting…',
  label: 'Your message',
  send: 'Send',
  end: 'End chat',
  typing: 'The counsellor is typing…',
  me: 'You',
  team: 'Counsellor',
  sending: 'sending',
  stored: 'sent',
  read: 'received',
  log: 'Messages',
  problem: 'Warning: {why}',
  startAgain: 'Start a new chat',
  // Problems the conversation logic reports (chat-core.js).
  replay: 'A message was delivered twice (replayed).',
  equivocation: 'Two different messages claim the same place.',
  missing: 'A message is missing.',
  reflected: 'One of your own messages was sent back as if from the team.',
  badAccept: 'The counsellor’s answer does not match what this device sent.',
  unknownGen: 'A message uses an unknown key.',
  unknownKind: 'A message of a kind this version cannot show.',
  badRekey: 'The counsellor’s new keys do not check out.',
  finishedGen: 'A message arrived on keys that were already replaced.',
  badAck: 'A message confirms messages this device never sent.',
  closeMismatch: 'The final message count does not match: messages are missing.',
  otherConversation: 'A message of another conversation was delivered here.',
  server: 'The server refused: {why}',
  notFound: 'This conversation does not exist any more.',
  blocked: 'The counselling team has ended this conversation.',
  closedTitle: 'We are not in the chat right now',
  hours: 'Chat hours: {hours}',
  emergency: 'If you need help now:',
  topic: 'What is it about? (optional)',
  // Other reasons of e2e.js: its REASONS.
  pin_mismatch: 'The team key does not match the key this website pinned. Someone may be reading along: do not use this chat.',
  unavailable: 'The counselling team has no valid key right now. Please try again later.',
};

const de = {
  title: 'Beratungs-Chat',
  exit: 'Schnell weg',
  exitHint: 'Verlässt die Seite sofort: zweimal Escape drücken oder diesen Knopf nutzen.',
  close: 'Minimieren',
  consentTitle: 'Bevor Du anfängst',
  consent: [
    'Du brauchst keinen Namen und kein Konto.',
    'Deine Nachrichten sind Ende-zu-Ende-verschlüsselt: Nur das Beratungsteam kann sie lesen, nicht die Betreiber des Servers.',
    'Der Server behält den verschlüsselten Chat nur so lange, wie die Löschregeln der Beratungsstelle es erlauben.',
    'Der Schlüssel zum Chat liegt nur in diesem Tab; „Schnell weg“ löscht ihn.',
  ],
  agree: 'Einverstanden, Chat starten',
  continueTitle: 'Weitermachen?',
  continueText: 'Möchtest Du da weitermachen, wo Du aufgehört hast?',
  continueYes: 'Weitermachen',
  continueNo: 'Nein, lieber nicht',
  checking: 'Sichere Verbindung wird aufgebaut…',
  safety: 'Sicherheitsnummer des Teamschlüssels (vergleiche sie mit der Website der Beratungsstelle):',
  refused: 'Der Chat kann nicht sicher starten.',
  waiting: 'Du wartest auf eine Beraterin oder einen Berater.',
  position: 'Du bist Nummer {n} in der Warteschlange.',
  active: 'Jetzt ist jemand aus dem Beratungsteam für Dich da.',
  transferred: 'Dein Chat wird an eine Kollegin oder einen Kollegen übergeben. Warte bitte kurz.',
  ended: 'Der Chat ist beendet.',
  endedUnconfirmed: 'Der Chat wurde ohne Bestätigung beendet: Die letzten Nachrichten fehlen vielleicht.',
  deleted: 'Das Gespräch wurde gelöscht.',
  wait: 'Wartezeit: etwa {n} Minuten.',
  waitMinute: 'Wartezeit: etwa eine Minute.',
  waitHour: 'Wartezeit: eine Stunde oder länger.',
  waitUnknown: 'Wie lange es dauert, können wir gerade nicht sagen.',
  del: 'Diesen Chat löschen',
  delTitle: 'Diesen Chat löschen?',
  delText: 'Das Gespräch wird jetzt auf dem Server gelöscht: alle Nachrichten, die Notizen des Teams und die Schlüssel. Niemand kann es wiederherstellen, auch das Team nicht.',
  delYes: 'Ja, löschen',
  delNo: 'Nein, behalten',
  delFailed: 'Der Chat konnte nicht gelöscht werden. Prüfe Deine Verbindung und versuche es noch einmal.',
  offline: 'Verbindung unterbrochen. Neuer Versuch…',
  label: 'Deine Nachricht',
  send: 'Senden',
  end: 'Chat beenden',
  typing: 'Das Beratungsteam schreibt…',
  me: 'Du',
  team: 'Beratung',
  sending: 'wird gesendet',
  stored: 'gesendet',
  read: 'angekommen',
  log: 'Nachrichten',
  problem: 'Achtung: {why}',
  startAgain: 'Neuen Chat starten',
  replay: 'Eine Nachricht kam doppelt an (wiederholt).',
  equivocation: 'Zwei verschiedene Nachrichten stehen an derselben Stelle.',
  missing: 'Eine Nachricht fehlt.',
  reflected: 'Eine Deiner eigenen Nachrichten kam zurück, als wäre sie vom Team.',
  badAccept: 'Die Antwort des Beratungsteams passt nicht zu dem, was dieses Gerät gesendet hat.',
  unknownGen: 'Eine Nachricht nutzt einen unbekannten Schlüssel.',
  unknownKind: 'Eine Nachricht einer Art, die diese Version nicht anzeigen kann.',
  badRekey: 'Die neuen Schlüssel des Beratungsteams stimmen nicht.',
  finishedGen: 'Eine Nachricht kam mit Schlüsseln, die schon ersetzt waren.',
  badAck: 'Eine Nachricht bestätigt Nachrichten, die dieses Gerät nie gesendet hat.',
  closeMismatch: 'Die Zahl der Nachrichten am Ende stimmt nicht: Es fehlen Nachrichten.',
  otherConversation: 'Eine Nachricht aus einem anderen Gespräch wurde hier zugestellt.',
  server: 'Der Server lehnt ab: {why}',
  notFound: 'Dieses Gespräch gibt es nicht mehr.',
  blocked: 'Das Beratungsteam hat dieses Gespräch beendet.',
  closedTitle: 'Gerade ist niemand von uns im Chat',
  hours: 'Chatzeiten: {hours}',
  emergency: 'Wenn Du jetzt Hilfe brauchst:',
  topic: 'Worum geht es? (freiwillig)',
  malformed: 'Die verschlüsselten Daten sind beschädigt.',
  bad_key: 'Ein Schlüssel ist ungültig.',
  bad_padding: 'Eine Nachricht ist beschädigt.',
  decrypt_failed: 'Eine Nachricht ließ sich nicht entschlüsseln: Sie wurde verändert oder ist nicht für Dich.',
  bad_signature: 'Die Unterschrift des Teamschlüssels stimmt nicht: Er wurde verändert oder gefälscht.',
  unsupported_suite: 'Diese Version der Verschlüsselung wird nicht unterstützt.',
  pin_mismatch: 'Der Teamschlüssel passt nicht zu dem Schlüssel, den diese Website festgelegt hat. Vielleicht liest jemand mit: Nutze diesen Chat nicht.',
  wrong_team: 'Die Schlüssel gehören zu einem anderen Team.',
  not_yet_valid: 'Der Teamschlüssel ist noch nicht gültig.',
  expired: 'Der Teamschlüssel ist abgelaufen.',
  window_too_long: 'Der Teamschlüssel behauptet eine zu lange Gültigkeit.',
  epoch_rollback: 'Der Teamschlüssel ist älter als einer, den dieser Tab schon gesehen hat.',
  bad_parameter: 'Ein Wert des Protokolls ist unerwartet.',
  unavailable: 'Das Beratungsteam hat gerade keinen gültigen Schlüssel. Versuche es bitte später noch einmal.',
};

export const CATALOGUES = { en, de };

// The snippet's language, else the browser's, else English.
export function pickLanguage(wanted, browser = '') {
  const l = String(wanted || browser).slice(0, 2).toLowerCase();
  return l in CATALOGUES ? l : 'en';
}

// A waiting estimate in words, rounded, never more precise than it is: [key, vars].
export function waitWords(seconds) {
  if (seconds == null) return ['waitUnknown'];
  const m = seconds / 60;
  const n = m < 10 ? Math.round(m) : Math.round(m / 5) * 5;
  return n < 2 ? ['waitMinute'] : n < 60 ? ['wait', { n }] : ['waitHour'];
}

// Text `key` of `lang`, `{name}` placeholders filled; English when missing.
export function t(lang, key, vars = {}) {
  const text = (CATALOGUES[lang] || en)[key] ?? en[key] ?? REASONS[key] ?? key;
  return typeof text === 'string' ? text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? '')) : text;
}
