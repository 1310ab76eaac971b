/* Opening hours of a team (chatserver/teams/hours.py): the weekly schedule, holidays and other
 * exceptions, the time zone, the message shown when closed, the emergency contacts and
 * whether new chats may wait outside hours. Exactly what PUT /api/teams/SLUG/hours takes. */
import { el, field, problem, teamPicker } from './ui.js';

export const strings = {
  en: {
    title: 'Opening hours',
    intro: 'When this team\'s chat is open. Outside these hours the chat shows the closed message and the emergency contacts below. A team without opening hours is open at all times.',
    none: 'No opening hours are set: the chat is open at all times. Saving this form sets them.',
    weekTitle: 'Weekly schedule',
    weekHelp: 'Times like 09:00-17:30; several on one day separated by commas; empty means closed. Over midnight, write 22:00-24:00 on one day and 00:00-02:00 on the next.',
    mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', fri: 'Friday', sat: 'Saturday', sun: 'Sunday',
    zone: 'Time zone',
    zoneHelp: 'The times above are in this zone (for Germany: Europe/Berlin). Summer time is handled.',
    exceptionsTitle: 'Holidays and exceptions',
    exceptionsHelp: 'A day with other hours than usual. Leave the hours empty to stay closed all day.',
    date: 'Date',
    dayHours: 'Hours on that day',
    dayHoursHelp: 'Like 10:00-14:00; empty: closed all day.',
    label: 'Name (optional)',
    labelHelp: 'For example Christmas Eve.',
    addException: 'Add a holiday or exception',
    remove: 'Remove',
    removeException: 'Remove the exception of {date}',
    removeContact: 'Remove the contact {name}',
    noExceptions: 'No exceptions.',
    messageTitle: 'Message when closed',
    messageDe: 'Message in German',
    messageEn: 'Message in English',
    messageHelp: 'Shown to young people outside the opening hours, above the emergency contacts. At most 1000 characters. Left empty, the standard text is used.',
    defaultContacts: 'None set yet: until these hours are saved, the standard contacts are shown (Notruf 112, TelefonSeelsorge, Nummer gegen Kummer). Saving without adding any keeps them.',
    contactsTitle: 'Emergency numbers and links',
    contactsHelp: 'Shown when the chat is closed: services that help at any time. Give a number, a link (https://…) or both.',
    name: 'Name',
    number: 'Phone number',
    numberHelp: 'Like 0800 111 0 111.',
    link: 'Link',
    linkHelp: 'Starts with https://.',
    addContact: 'Add an emergency contact',
    queueTitle: 'Outside the opening hours',
    queue: 'Let new chats wait in the queue outside the opening hours',
    queueHelp: 'When off, the chat cannot be started while closed; when on, people can write and wait until the team is back.',
    save: 'Save the opening hours',
    saved: 'Saved. The chat uses these hours now.',
    badHours: 'Write times like 09:00-17:30, separated by commas.',
    required: 'Please fill this in.',
    fix: 'Please correct the marked field.',
    contactEntry: 'Contact {n}',
    exceptionEntry: 'Exception {n}',
  },
  de: {
    title: 'Öffnungszeiten',
    intro: 'Wann der Chat dieses Teams geöffnet ist. Außerhalb dieser Zeiten zeigt der Chat die Nachricht für geschlossene Zeiten und die Notfallkontakte unten. Ein Team ohne Öffnungszeiten ist immer geöffnet.',
    none: 'Es sind keine Öffnungszeiten eingetragen: Der Chat ist immer geöffnet. Mit dem Speichern werden sie gesetzt.',
    weekTitle: 'Wochenplan',
    weekHelp: 'Zeiten wie 09:00-17:30; mehrere an einem Tag durch Kommas getrennt; leer heißt geschlossen. Über Mitternacht: 22:00-24:00 an einem Tag und 00:00-02:00 am nächsten.',
    mon: 'Montag', tue: 'Dienstag', wed: 'Mittwoch', thu: 'Donnerstag', fri: 'Freitag', sat: 'Samstag', sun: 'Sonntag',
    zone: 'Zeitzone',
    zoneHelp: 'Die Zeiten oben gelten in dieser Zone (für Deutschland: Europe/Berlin). Sommerzeit wird berücksichtigt.',
    exceptionsTitle: 'Feiertage und Ausnahmen',
    exceptionsHelp: 'Ein Tag mit anderen Zeiten als sonst. Ohne Zeiten bleibt der Chat den ganzen Tag geschlossen.',
    date: 'Datum',
    dayHours: 'Zeiten an diesem Tag',
    dayHoursHelp: 'Wie 10:00-14:00; leer: den ganzen Tag geschlossen.',
    label: 'Bezeichnung (freiwillig)',
    labelHelp: 'Zum Beispiel Heiligabend.',
    addException: 'Feiertag oder Ausnahme hinzufügen',
    remove: 'Entfernen',
    removeException: 'Ausnahme vom {date} entfernen',
    removeContact: 'Kontakt {name} entfernen',
    noExceptions: 'Keine Ausnahmen.',
    messageTitle: 'Nachricht bei geschlossenem Chat',
    messageDe: 'Nachricht auf Deutsch',
    messageEn: 'Nachricht auf Englisch',
    messageHelp: 'Wird jungen Menschen außerhalb der Öffnungszeiten über den Notfallkontakten gezeigt. Höchstens 1000 Zeichen. Bleibt das Feld leer, gilt der Standardtext.',
    defaultContacts: 'Noch keine eingetragen: Bis zum Speichern gelten die Standardkontakte (Notruf 112, TelefonSeelsorge, Nummer gegen Kummer). Ohne eigene Einträge bleiben sie erhalten.',
    contactsTitle: 'Notfallnummern und Links',
    contactsHelp: 'Werden bei geschlossenem Chat gezeigt: Stellen, die jederzeit helfen. Eine Nummer, einen Link (https://…) oder beides angeben.',
    name: 'Name',
    number: 'Telefonnummer',
    numberHelp: 'Wie 0800 111 0 111.',
    link: 'Link',
    linkHelp: 'Beginnt mit https://.',
    addContact: 'Notfallkontakt hinzufügen',
    queueTitle: 'Außerhalb der Öffnungszeiten',
    queue: 'Neue Chats außerhalb der Öffnungszeiten in der Warteschlange warten lassen',
    queueHelp: 'Aus: Bei geschlossenem Chat lässt sich kein Chat beginnen. An: Man kann schreiben und warten, bis das Team wieder da ist.',
    save: 'Öffnungszeiten speichern',
    saved: 'Gespeichert. Der Chat verwendet jetzt diese Zeiten.',
    badHours: 'Zeiten wie 09:00-17:30 angeben, durch Kommas getrennt.',
    required: 'Bitte ausfüllen.',
    fix: 'Bitte das markierte Feld korrigieren.',
    contactEntry: 'Kontakt {n}',
    exceptionEntry: 'Ausnahme {n}',
  },
};

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const INTERVAL = /^\d{2}:\d{2}-\d{2}:\d{2}$/;
const DEFAULT_HOURS = {
  timezone: 'Europe/Berlin',
  weekly: { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [] },
  exceptions: [],
  closed_message: null,
  emergency: null,
  queue_outside_hours: false,
};

function splitHours(text) {
  return text.split(/[,;]/).map((s) => s.replace(/\s+/g, '').replace(/[–—]/g, '-')).filter(Boolean);
}

function zones() {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return ['Europe/Berlin', 'Europe/Vienna', 'Europe/Zurich', 'UTC'];
  }
}

export async function render(ctx, root) {
  const { t } = ctx;
  const body = el('div');
  let turn = 0; // only the latest team chosen is drawn (a slow answer may come after)
  const picker = teamPicker(ctx, (slug) => show(slug));
  root.append(el('p', { class: 'intro', text: t('intro') }), picker, body);
  await picker.ready;

  async function show(slug) {
    const mine = ++turn;
    body.replaceChildren();
    let data;
    try {
      data = await ctx.api(`/api/teams/${encodeURIComponent(slug)}/hours`);
    } catch (err) {
      if (mine !== turn) return;
      body.append(el('p', { class: 'form-status', role: 'alert', text: problem(err) }));
      return;
    }
    if (mine !== turn) return;
    const hours = data.hours ?? DEFAULT_HOURS;
    const paths = new Map(); // the server's field path -> field
    const form = el('form', { novalidate: true, class: 'hours-form' });
    if (!data.hours) form.append(el('p', { class: 'status-ok', text: t('none') }));

    // Weekly schedule
    const week = el('fieldset', { 'aria-describedby': 'hours-week-help' }, el('legend', { text: t('weekTitle') }), el('p', { class: 'help', id: 'hours-week-help', text: t('weekHelp') }));
    const days = {};
    const dayGrid = el('div', { class: 'fields' });
    week.append(dayGrid);
    for (const day of WEEKDAYS) {
      const f = field({ label: t(day), attrs: { value: (hours.weekly[day] ?? []).join(', '), autocomplete: 'off', spellcheck: 'false', 'data-day': day } });
      f.input.setAttribute('aria-describedby', `hours-week-help ${f.error.id}`);
      dayGrid.append(f.wrap);
      days[day] = f;
      paths.set(`weekly.${day}`, f);
    }
    const zoneList = el('datalist', { id: 'hours-zones' }, ...zones().map((z) => el('option', { value: z })));
    const zone = field({ label: t('zone'), help: t('zoneHelp'), attrs: { value: hours.timezone, list: 'hours-zones', autocomplete: 'off', spellcheck: 'false' } });
    week.append(zone.wrap, zoneList);
    paths.set('timezone', zone);

    // Exceptions and contacts are groups named by their number, so that "Date" or "Name"
    // says which one.
    function renumber() {
      exceptions.forEach((row, n) => row.item.setAttribute('aria-label', t('exceptionEntry', { n: n + 1 })));
      contacts.forEach((row, n) => row.item.setAttribute('aria-label', t('contactEntry', { n: n + 1 })));
    }

    // Exceptions
    const exceptionList = el('ul', { class: 'list-plain' });
    const exceptions = [];
    const contacts = [];
    const noExceptions = el('p', { text: t('noExceptions') });
    function addException(entry = { date: '', hours: [], label: '' }) {
      const item = el('li', { class: 'fields', role: 'group' });
      const date = field({ label: t('date'), attrs: { type: 'date', value: entry.date }, wrapTag: 'div' });
      const dayHours = field({ label: t('dayHours'), help: t('dayHoursHelp'), attrs: { value: entry.hours.join(', '), autocomplete: 'off', spellcheck: 'false' }, wrapTag: 'div' });
      const label = field({ label: t('label'), help: t('labelHelp'), attrs: { value: entry.label ?? '', maxlength: 80 }, wrapTag: 'div' });
      const row = { item, date, dayHours, label };
      const remove = el('button', { type: 'button', class: 'secondary', text: t('remove') });
      const name = () => remove.setAttribute('aria-label', t('removeException', { date: date.input.value || '…' }));
      name();
      date.input.addEventListener('change', name);
      remove.addEventListener('click', () => {
        exceptions.splice(exceptions.indexOf(row), 1);
        item.remove();
        renumber();
        noExceptions.hidden = exceptions.length > 0;
        addExceptionButton.focus();
      });
      item.append(date.wrap, dayHours.wrap, label.wrap, el('div', {}, remove));
      exceptions.push(row);
      exceptionList.append(item);
      renumber();
      noExceptions.hidden = true;
      return row;
    }
    const addExceptionButton = el('button', { type: 'button', class: 'secondary', text: t('addException') });
    addExceptionButton.addEventListener('click', () => addException().date.input.focus());
    for (const entry of hours.exceptions) addException(entry);
    noExceptions.hidden = exceptions.length > 0;
    const exceptionSet = el('fieldset', { 'aria-describedby': 'hours-exc-help' }, el('legend', { text: t('exceptionsTitle') }), el('p', { class: 'help', id: 'hours-exc-help', text: t('exceptionsHelp') }), noExceptions, exceptionList, el('p', {}, addExceptionButton));

    // Closed message
    const messages = {};
    const messageSet = el('fieldset', {}, el('legend', { text: t('messageTitle') }));
    for (const lang of ['de', 'en']) {
      const f = field({ label: t(lang === 'de' ? 'messageDe' : 'messageEn'), help: t('messageHelp'), control: 'textarea', attrs: { rows: 4, maxlength: 1000, lang } });
      f.input.value = hours.closed_message?.[lang] ?? '';
      messageSet.append(f.wrap);
      messages[lang] = f;
      paths.set(`closed_message.${lang}`, f);
    }

    // Emergency contacts
    const contactList = el('ul', { class: 'list-plain' });
    function addContact(entry = { name: '', number: '', link: '' }) {
      const item = el('li', { class: 'fields', role: 'group' });
      const name = field({ label: t('name'), attrs: { value: entry.name, maxlength: 80 }, wrapTag: 'div' });
      const number = field({ label: t('number'), help: t('numberHelp'), attrs: { value: entry.number ?? '', type: 'tel', autocomplete: 'off' }, wrapTag: 'div' });
      const link = field({ label: t('link'), help: t('linkHelp'), attrs: { value: entry.link ?? '', type: 'url', autocomplete: 'off', spellcheck: 'false' }, wrapTag: 'div' });
      const row = { item, name, number, link };
      const remove = el('button', { type: 'button', class: 'secondary', text: t('remove') });
      const label = () => remove.setAttribute('aria-label', t('removeContact', { name: name.input.value || '…' }));
      label();
      name.input.addEventListener('change', label);
      remove.addEventListener('click', () => {
        contacts.splice(contacts.indexOf(row), 1);
        item.remove();
        renumber();
        addContactButton.focus();
      });
      item.append(name.wrap, number.wrap, link.wrap, el('div', {}, remove));
      contacts.push(row);
      contactList.append(item);
      renumber();
      return row;
    }
    const addContactButton = el('button', { type: 'button', class: 'secondary', text: t('addContact') });
    addContactButton.addEventListener('click', () => addContact().name.input.focus());
    for (const entry of hours.emergency ?? []) addContact(entry);
    const contactSet = el('fieldset', { 'aria-describedby': 'hours-contacts-help' }, el('legend', { text: t('contactsTitle') }), el('p', { class: 'help', id: 'hours-contacts-help', text: t('contactsHelp') }), !data.hours ? el('p', { text: t('defaultContacts') }) : null, contactList, el('p', {}, addContactButton));

    // Queue outside hours
    const queue = el('input', { type: 'checkbox', id: 'hours-queue', 'aria-describedby': 'hours-queue-help' });
    queue.checked = Boolean(hours.queue_outside_hours);
    const queueSet = el('fieldset', {}, el('legend', { text: t('queueTitle') }),
      el('p', {}, el('label', { class: 'inline', for: 'hours-queue' }, queue, t('queue'))),
      el('small', { class: 'help', id: 'hours-queue-help', text: t('queueHelp') }));

    const status = el('p', { class: 'form-status', role: 'alert' });
    form.append(week, exceptionSet, messageSet, contactSet, queueSet, el('p', {}, el('button', { type: 'submit', text: t('save') })), status);
    body.append(form);

    function collect() {
      const all = [...paths.values(), ...exceptions.flatMap((r) => [r.date, r.dayHours, r.label]), ...contacts.flatMap((r) => [r.name, r.number, r.link])];
      for (const f of all) f.clear();
      let bad = null;
      const flag = (f, text) => {
        f.setError(text);
        bad ??= f;
      };
      const weekly = {};
      for (const day of WEEKDAYS) {
        weekly[day] = splitHours(days[day].input.value);
        if (!weekly[day].every((i) => INTERVAL.test(i))) flag(days[day], t('badHours'));
      }
      const list = exceptions.map((row, n) => {
        paths.set(`exceptions[${n}].date`, row.date);
        paths.set(`exceptions[${n}].hours`, row.dayHours);
        paths.set(`exceptions[${n}].label`, row.label);
        paths.set(`exceptions[${n}]`, row.date);
        if (!row.date.input.value) flag(row.date, t('required'));
        const intervals = splitHours(row.dayHours.input.value);
        if (!intervals.every((i) => INTERVAL.test(i))) flag(row.dayHours, t('badHours'));
        const entry = { date: row.date.input.value, hours: intervals };
        if (row.label.input.value.trim()) entry.label = row.label.input.value.trim();
        return entry;
      });
      const emergency = contacts.map((row, n) => {
        paths.set(`emergency[${n}].name`, row.name);
        paths.set(`emergency[${n}].number`, row.number);
        paths.set(`emergency[${n}].link`, row.link);
        paths.set(`emergency[${n}]`, row.number);
        if (!row.name.input.value.trim()) flag(row.name, t('required'));
        const entry = { name: row.name.input.value.trim() };
        if (row.number.input.value.trim()) entry.number = row.number.input.value.trim();
        if (row.link.input.value.trim()) entry.link = row.link.input.value.trim();
        return entry;
      });
      const closed = {};
      for (const lang of ['de', 'en']) {
        if (messages[lang].input.value.trim()) closed[lang] = messages[lang].input.value.trim();
      }
      const out = {
        timezone: zone.input.value.trim() || 'Europe/Berlin',
        weekly,
        exceptions: list,
        closed_message: closed,
        emergency,
        queue_outside_hours: queue.checked,
      };
      // Hours set for the first time without contacts keep the server's default ones.
      if (!data.hours && !emergency.length) delete out.emergency;
      return { bad, body: out };
    }

    /** The server names the field first ("weekly.mon[0]: …"): the longest known path
     * that starts that name gets the message. */
    function refusal(message) {
      const where = message.split(':')[0];
      const key = [...paths.keys()].filter((p) => where === p || where.startsWith(`${p}[`) || where.startsWith(`${p}.`)).sort((a, b) => b.length - a.length)[0];
      const target = key ? paths.get(key) : null;
      if (target) {
        target.setError(message);
        target.input.focus();
        status.textContent = t('fix');
      } else {
        status.textContent = message;
      }
    }

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      status.textContent = '';
      const { bad, body: hoursBody } = collect();
      if (bad) {
        status.textContent = t('fix');
        bad.input.focus();
        return;
      }
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        await ctx.api(`/api/teams/${encodeURIComponent(slug)}/hours`, { method: 'PUT', body: hoursBody, csrf: ctx.csrf });
        status.textContent = '';
        await show(slug);
        body.prepend(el('p', { class: 'status-ok', text: t('saved') }));
        ctx.announce(t('saved'));
      } catch (err) {
        refusal(problem(err));
      } finally {
        button.disabled = false;
      }
    });
  }
}
