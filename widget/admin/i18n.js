/* The admin area shell's texts, English and German. German keeps a neutral professional
 * register: no "Du", no "Sie" (instructions as infinitives or nouns). Each page module
 * carries its own texts in `strings`; the shared controls of ui.js have theirs there. */
export const TEXTS = {
  en: {
    brand: 'Admin area',
    skip: 'Skip to the content',
    navTitle: 'Admin pages',
    signInTitle: 'Sign in to the admin area',
    username: 'Username',
    password: 'Password',
    code: 'Code from your authenticator app',
    secret: 'Account secret key (from your recovery sheet)',
    secretLabel: 'Account secret key',
    secretHelp: 'Only needed the first time you sign in on this device, if your account has one.',
    badSecret: 'That is not an account secret key: it has 24 characters, as printed on the recovery sheet.',
    signIn: 'Sign in',
    working: 'Checking… (this takes a moment: your password never leaves this device)',
    wrongLogin: 'Wrong username, password or code.',
    throttled: 'Too many attempts. Wait a few minutes, then try again.',
    missing: 'Enter your username and password.',
    unlockTitle: 'Unlock the admin area',
    unlockText: 'Signed in as {name}. Enter your password again: keys are kept in this page only, so a reload asks for it.',
    unlock: 'Unlock',
    wrongPassword: 'That password does not unlock your keys.',
    signOut: 'Sign out',
    signedInAs: '{name} ({role})',
    role_admin: 'admin',
    role_supervisor: 'supervisor',
    role_counsellor: 'counsellor',
    deniedTitle: 'Admin area',
    denied: 'This area is for admins and supervisors. Your account is a counsellor account: your work happens in the duty console.',
    totpFirst: 'Your account needs two-factor sign-in first. Set it up in the duty console, then come back.',
    toConsole: 'Go to the duty console',
    language: 'Deutsch',
    loadFailed: 'This page could not be loaded: {reason}',
    noPage: 'There is no such page here.',
    pageShown: '{title}',
    sessionEnded: 'Your session has ended. Please sign in again.',
  },
  de: {
    brand: 'Verwaltung',
    skip: 'Zum Inhalt springen',
    navTitle: 'Seiten der Verwaltung',
    signInTitle: 'Anmeldung zur Verwaltung',
    username: 'Benutzername',
    password: 'Passwort',
    code: 'Code aus der Authenticator-App',
    secret: 'Geheimer Kontoschlüssel (vom Wiederherstellungsblatt)',
    secretLabel: 'Geheimer Kontoschlüssel',
    secretHelp: 'Nur bei der ersten Anmeldung auf diesem Gerät nötig, falls das Konto einen hat.',
    badSecret: 'Das ist kein geheimer Kontoschlüssel: Er hat 24 Zeichen, wie auf dem Wiederherstellungsblatt gedruckt.',
    signIn: 'Anmelden',
    working: 'Wird geprüft … (das dauert einen Moment: das Passwort verlässt dieses Gerät nie)',
    wrongLogin: 'Benutzername, Passwort oder Code stimmen nicht.',
    throttled: 'Zu viele Versuche. Bitte einige Minuten warten und es dann erneut versuchen.',
    missing: 'Bitte Benutzernamen und Passwort eingeben.',
    unlockTitle: 'Verwaltung entsperren',
    unlockText: 'Angemeldet als {name}. Bitte das Passwort erneut eingeben: Schlüssel liegen nur in dieser Seite, darum fragt ein Neuladen danach.',
    unlock: 'Entsperren',
    wrongPassword: 'Mit diesem Passwort lassen sich die Schlüssel nicht entsperren.',
    signOut: 'Abmelden',
    signedInAs: '{name} ({role})',
    role_admin: 'Admin',
    role_supervisor: 'Supervision',
    role_counsellor: 'Beratung',
    deniedTitle: 'Verwaltung',
    denied: 'Dieser Bereich ist für Admins und Supervision. Dieses Konto ist ein Beratungskonto: Die Arbeit findet in der Dienstkonsole statt.',
    totpFirst: 'Für dieses Konto ist zuerst die Zwei-Faktor-Anmeldung nötig. Sie lässt sich in der Dienstkonsole einrichten.',
    toConsole: 'Zur Dienstkonsole',
    language: 'English',
    loadFailed: 'Diese Seite ließ sich nicht laden: {reason}',
    noPage: 'Diese Seite gibt es hier nicht.',
    pageShown: '{title}',
    sessionEnded: 'Die Sitzung ist abgelaufen. Bitte erneut anmelden.',
  },
};

export function language() {
  const chosen = localStorage.getItem('cc-admin-lang');
  if (chosen === 'de' || chosen === 'en') return chosen;
  return (navigator.language || 'en').toLowerCase().startsWith('de') ? 'de' : 'en';
}

/** A `t(key, vars)` over `table` (a page's `strings`, or TEXTS), English as fallback. */
export function translator(table, lang) {
  const own = table[lang] ?? table.en ?? {};
  const fallback = table.en ?? {};
  return (key, vars = {}) => String(own[key] ?? fallback[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));
}
