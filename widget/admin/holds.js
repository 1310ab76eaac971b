/* Legal holds (docs/retention.md, "Legal hold"): a conversation on hold is never deleted
 * until the hold ends. List the holds in force for a team, place one on a conversation id
 * with a reason and a number of days, extend, release; each step asks first and is
 * audited by the server. GET /api/teams/SLUG/holds, POST /api/conversations/ID/holds,
 * PATCH and DELETE /api/holds/ID. */
import { confirmAction, el, field, formatTime, problem, teamPicker } from './ui.js';

export const strings = {
  en: {
    title: 'Legal holds',
    intro: 'A conversation on legal hold is not deleted, whatever the retention rules say, until the hold ends (for example while a court or the youth welfare office needs it). Holds end by themselves when their time is up. Every hold, extension and release is written to the audit log.',
    listTitle: 'Holds in force',
    none: 'No conversation of this team is on hold.',
    conversation: 'Conversation {id}',
    reasonIs: 'Reason: {reason}',
    placed: 'Placed by {by} on {since}; holds until {until}.',
    you: 'you',
    extendDays: 'New end, in days from today',
    extendHelp: 'From 1 to 3650 days.',
    extend: 'Extend',
    extendLabel: 'Extend the hold on conversation {id}',
    release: 'Release',
    releaseLabel: 'Release the hold on conversation {id}',
    confirmExtend: 'Extend the hold on conversation {id} until {days} days from today?',
    confirmRelease: 'Release the hold on conversation {id}? Its records are then deleted as soon as the retention rules say so.',
    confirmPlace: 'Place a hold on conversation {id} for {days} days?',
    extended: 'The hold on conversation {id} now ends on {until}.',
    released: 'The hold on conversation {id} is released.',
    placeTitle: 'Place a hold',
    conversationId: 'Conversation id',
    conversationHelp: 'The id as the duty console shows it in a chat\'s details (or as a colleague gave it).',
    reason: 'Reason',
    reasonHelp: 'Why the conversation must be kept, e.g. the file number of a court request. No names and nothing from the conversation. At most 500 characters.',
    days: 'Days',
    daysHelp: 'How long to keep it, from today: 1 to 3650 days. The hold can be extended.',
    place: 'Place the hold',
    placedOk: 'Conversation {id} is on hold until {until}.',
    required: 'Please fill this in.',
    badDays: 'A whole number from 1 to 3650.',
  },
  de: {
    title: 'Aufbewahrungssperren',
    intro: 'Ein Gespräch mit Aufbewahrungssperre wird nicht gelöscht, gleich was die Löschfristen sagen, bis die Sperre endet (etwa solange ein Gericht oder das Jugendamt es braucht). Sperren enden von selbst, wenn ihre Zeit abgelaufen ist. Jede Sperre, Verlängerung und Aufhebung steht im Protokoll.',
    listTitle: 'Geltende Sperren',
    none: 'Kein Gespräch dieses Teams ist gesperrt.',
    conversation: 'Gespräch {id}',
    reasonIs: 'Grund: {reason}',
    placed: 'Gesetzt von {by} am {since}; gilt bis {until}.',
    you: 'diesem Konto',
    extendDays: 'Neues Ende, in Tagen ab heute',
    extendHelp: 'Von 1 bis 3650 Tagen.',
    extend: 'Verlängern',
    extendLabel: 'Sperre für Gespräch {id} verlängern',
    release: 'Aufheben',
    releaseLabel: 'Sperre für Gespräch {id} aufheben',
    confirmExtend: 'Sperre für Gespräch {id} bis {days} Tage ab heute verlängern?',
    confirmRelease: 'Sperre für Gespräch {id} aufheben? Seine Daten werden dann gelöscht, sobald die Löschfristen es vorsehen.',
    confirmPlace: 'Gespräch {id} für {days} Tage sperren?',
    extended: 'Die Sperre für Gespräch {id} endet jetzt am {until}.',
    released: 'Die Sperre für Gespräch {id} ist aufgehoben.',
    placeTitle: 'Sperre setzen',
    conversationId: 'Gesprächs-ID',
    conversationHelp: 'Die ID, wie die Dienstkonsole sie in den Details eines Chats zeigt (oder wie sie aus dem Team mitgeteilt wurde).',
    reason: 'Grund',
    reasonHelp: 'Warum das Gespräch aufbewahrt werden muss, z. B. das Aktenzeichen einer gerichtlichen Anfrage. Keine Namen und nichts aus dem Gespräch. Höchstens 500 Zeichen.',
    days: 'Tage',
    daysHelp: 'Wie lange aufbewahren, ab heute: 1 bis 3650 Tage. Die Sperre lässt sich verlängern.',
    place: 'Sperre setzen',
    placedOk: 'Gespräch {id} ist gesperrt bis {until}.',
    required: 'Bitte ausfüllen.',
    badDays: 'Eine ganze Zahl von 1 bis 3650.',
  },
};

const DAY_MS = 86_400_000;

function wholeDays(text) {
  return /^\d{1,4}$/.test(text.trim()) && Number(text) >= 1 && Number(text) <= 3650 ? Number(text) : null;
}

export async function render(ctx, root) {
  const { t } = ctx;
  const names = new Map([[ctx.me.staff.id, t('you')]]);
  if (ctx.me.staff.role === 'admin') {
    try {
      for (const s of (await ctx.api('/api/admin/staff')).staff) if (s.id !== ctx.me.staff.id) names.set(s.id, s.name ?? s.username);
    } catch {
      // names are a convenience; ids still say who
    }
  }
  const listBox = el('div');
  const notice = el('p', { class: 'status-ok' });
  const listHeading = el('h2', { id: 'holds-list-h', text: t('listTitle'), tabindex: '-1' });
  const tell = (text) => {
    notice.textContent = text;
    ctx.announce(text);
  };
  const cid = field({ label: t('conversationId'), help: t('conversationHelp'), attrs: { autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none', maxlength: 80 } });
  const reason = field({ label: t('reason'), help: t('reasonHelp'), control: 'textarea', attrs: { rows: 3, maxlength: 500 } });
  const days = field({ label: t('days'), help: t('daysHelp'), attrs: { type: 'number', min: 1, max: 3650, step: 1, value: '30', inputmode: 'numeric' } });
  const placeStatus = el('p', { class: 'form-status', role: 'alert' });
  const placeForm = el('form', { novalidate: true, 'aria-labelledby': 'holds-place-h' },
    el('h2', { id: 'holds-place-h', text: t('placeTitle') }), cid.wrap, reason.wrap, days.wrap,
    el('p', {}, el('button', { type: 'submit', text: t('place') })), placeStatus);
  let turn = 0; // only the latest team chosen is drawn (a slow answer may come after)
  const picker = teamPicker(ctx, (slug) => list(slug));
  root.append(el('p', { class: 'intro', text: t('intro') }), picker,
    el('section', { 'aria-labelledby': 'holds-list-h' }, listHeading, notice, listBox), placeForm);

  let team = null;
  async function list(slug) {
    const mine = ++turn;
    if (slug !== team) notice.textContent = '';
    team = slug;
    listBox.replaceChildren();
    let holds;
    try {
      holds = await ctx.api(`/api/teams/${encodeURIComponent(slug)}/holds`);
    } catch (err) {
      if (mine !== turn) return;
      listBox.append(el('p', { class: 'form-status', role: 'alert', text: problem(err) }));
      return;
    }
    if (mine !== turn) return;
    if (!holds.length) {
      listBox.append(el('p', { text: t('none') }));
      return;
    }
    listBox.append(el('ul', { class: 'list-plain holds' }, ...holds.map((hold) => item(hold))));
  }

  function item(hold) {
    const heading = el('h3', { class: 'mono', text: t('conversation', { id: hold.conversation }) });
    const extendDays = field({ label: t('extendDays'), help: t('extendHelp'), attrs: { type: 'number', min: 1, max: 3650, step: 1, value: '30', inputmode: 'numeric' }, wrapTag: 'div' });
    const extend = el('button', { type: 'button', class: 'secondary', text: t('extend'), 'aria-label': t('extendLabel', { id: hold.conversation }) });
    const release = el('button', { type: 'button', class: 'danger', text: t('release'), 'aria-label': t('releaseLabel', { id: hold.conversation }) });
    const status = el('p', { class: 'form-status', role: 'alert' });
    extend.addEventListener('click', async () => {
      extendDays.clear();
      const n = wholeDays(extendDays.input.value);
      if (n === null) {
        extendDays.setError(t('badDays'));
        extendDays.input.focus();
        return;
      }
      if (!(await confirmAction(ctx, t('confirmExtend', { id: hold.conversation, days: n }), { confirm: t('extend') }))) return;
      try {
        const done = await ctx.api(`/api/holds/${hold.id}`, { method: 'PATCH', body: { days: n }, csrf: ctx.csrf });
        await list(team);
        tell(t('extended', { id: hold.conversation, until: formatTime(done.until, ctx.lang) }));
      } catch (err) {
        extendDays.setError(problem(err));
      }
    });
    release.addEventListener('click', async () => {
      if (!(await confirmAction(ctx, t('confirmRelease', { id: hold.conversation }), { confirm: t('release'), danger: true }))) return;
      try {
        await ctx.api(`/api/holds/${hold.id}`, { method: 'DELETE', csrf: ctx.csrf });
        await list(team);
        tell(t('released', { id: hold.conversation }));
        listHeading.focus();
      } catch (err) {
        status.textContent = problem(err);
      }
    });
    return el('li', { 'data-hold': String(hold.id) }, heading,
      el('p', { text: t('reasonIs', { reason: hold.reason }) }),
      el('p', { class: 'help', text: t('placed', { by: names.get(hold.by) ?? hold.by ?? '–', since: formatTime(hold.since, ctx.lang), until: formatTime(hold.until, ctx.lang) }) }),
      el('div', { class: 'fields' }, extendDays.wrap, el('div', { class: 'buttons' }, extend, release)), status);
  }

  placeForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const f of [cid, reason, days]) f.clear();
    placeStatus.textContent = '';
    const id = cid.input.value.trim();
    const why = reason.input.value.trim();
    const n = wholeDays(days.input.value);
    /** @type {ReturnType<typeof field> | null} */
    let bad = null;
    const flag = (f, text) => {
      f.setError(text);
      bad ??= f;
    };
    if (!id) flag(cid, t('required'));
    if (!why) flag(reason, t('required'));
    if (n === null) flag(days, t('badDays'));
    if (bad) {
      bad.input.focus();
      return;
    }
    if (!(await confirmAction(ctx, t('confirmPlace', { id, days: n }), { confirm: t('place') }))) return;
    try {
      await ctx.api(`/api/conversations/${encodeURIComponent(id)}/holds`, { method: 'POST', body: { reason: why, days: n }, csrf: ctx.csrf });
      const until = formatTime(Date.now() + n * DAY_MS, ctx.lang);
      cid.input.value = '';
      reason.input.value = '';
      await list(team);
      tell(t('placedOk', { id, until }));
    } catch (err) {
      const message = problem(err);
      if (err.status === 404 || err.status === 403) cid.setError(message);
      else if (/days/.test(message)) days.setError(message);
      else reason.setError(message);
      (err.status === 404 || err.status === 403 ? cid : reason).input.focus();
    }
  });
  await picker.ready;
}
