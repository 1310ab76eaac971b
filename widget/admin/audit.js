/* The audit log: who did what and when (never content), searchable, page by page, as CSV,
 * and the hash chain checked on request (GET /api/admin/audit, .csv, /verify). */
import { dayStart, el, field, formatTime, problem, table } from './ui.js';

export const strings = {
  en: {
    title: 'Audit log',
    intro: 'Every change made by an admin, a supervisor, the command line or the system is written here: who, what and when, never the content of a conversation. Each entry is linked to the one before it, so a changed or removed entry is detected.',
    search: 'Search',
    text: 'Text',
    textHelp: 'Finds entries whose action, target or details contain this text.',
    action: 'Action',
    actionHelp: 'Exactly as in the table, e.g. retention.rule_changed or hold.placed.',
    actor: 'Who',
    actorHelp: 'A username, or cli (the command line) or system.',
    since: 'From',
    sinceHelp: 'First day to include.',
    until: 'To',
    untilHelp: 'Last day to include.',
    datesWrong: '"To" must not be before "From".',
    find: 'Search',
    reset: 'Clear the search',
    csv: 'Download these entries as CSV',
    caption: 'Entries, newest first',
    when: 'When',
    who: 'Who',
    what: 'Action',
    target: 'Target',
    details: 'Details',
    entry: 'No.',
    more: 'Show older entries',
    none: 'No entry matches.',
    shown: '{n} entries shown.',
    cli: 'command line',
    system: 'system',
    verifyTitle: 'Check the chain',
    verifyHelp: 'Recomputes every entry\'s hash and its link to the one before. It takes a moment on a long log.',
    verify: 'Verify the chain',
    verifying: 'Checking…',
    intact: 'The audit log is intact: {n} entries checked.',
    broken: 'The audit log is broken at entry no. {id}: {reason}. {n} entries before it check out.',
  },
  de: {
    title: 'Protokoll',
    intro: 'Jede Änderung durch Admins, Supervision, die Kommandozeile oder das System steht hier: wer, was und wann, nie der Inhalt eines Gesprächs. Jeder Eintrag ist mit dem vorigen verkettet, so fällt ein geänderter oder entfernter Eintrag auf.',
    search: 'Suche',
    text: 'Text',
    textHelp: 'Findet Einträge, deren Aktion, Ziel oder Details diesen Text enthalten.',
    action: 'Aktion',
    actionHelp: 'Genau wie in der Tabelle, z. B. retention.rule_changed oder hold.placed.',
    actor: 'Wer',
    actorHelp: 'Ein Benutzername, oder cli (Kommandozeile) oder system.',
    since: 'Von',
    sinceHelp: 'Erster Tag, der dazugehört.',
    until: 'Bis',
    untilHelp: 'Letzter Tag, der dazugehört.',
    datesWrong: '„Bis“ darf nicht vor „Von“ liegen.',
    find: 'Suchen',
    reset: 'Suche leeren',
    csv: 'Diese Einträge als CSV herunterladen',
    caption: 'Einträge, neueste zuerst',
    when: 'Wann',
    who: 'Wer',
    what: 'Aktion',
    target: 'Ziel',
    details: 'Details',
    entry: 'Nr.',
    more: 'Ältere Einträge zeigen',
    none: 'Kein Eintrag passt.',
    shown: '{n} Einträge angezeigt.',
    cli: 'Kommandozeile',
    system: 'System',
    verifyTitle: 'Kette prüfen',
    verifyHelp: 'Berechnet den Hash jedes Eintrags und die Verkettung mit dem vorigen neu. Bei einem langen Protokoll dauert das einen Moment.',
    verify: 'Kette prüfen',
    verifying: 'Wird geprüft …',
    intact: 'Das Protokoll ist unverändert: {n} Einträge geprüft.',
    broken: 'Das Protokoll ist bei Eintrag Nr. {id} gebrochen: {reason}. {n} Einträge davor sind in Ordnung.',
  },
};

const PAGE = 50;

function detailText(detail) {
  return Object.entries(detail ?? {})
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join('; ');
}

export async function render(ctx, root) {
  const { t } = ctx;
  const text = field({ label: t('text'), help: t('textHelp'), attrs: { type: 'search', maxlength: 200, autocomplete: 'off' }, wrapTag: 'div' });
  const action = field({ label: t('action'), help: t('actionHelp'), attrs: { maxlength: 40, autocomplete: 'off', spellcheck: 'false' }, wrapTag: 'div' });
  const actor = field({ label: t('actor'), help: t('actorHelp'), attrs: { maxlength: 80, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none' }, wrapTag: 'div' });
  const since = field({ label: t('since'), help: t('sinceHelp'), attrs: { type: 'date' }, wrapTag: 'div' });
  const until = field({ label: t('until'), help: t('untilHelp'), attrs: { type: 'date' }, wrapTag: 'div' });
  const csv = el('a', { class: 'button secondary', href: '/api/admin/audit.csv', download: 'audit.csv', text: t('csv') });
  const form = el('form', { class: 'audit-search', 'aria-labelledby': 'audit-search-h' },
    el('h2', { id: 'audit-search-h', text: t('search') }),
    el('div', { class: 'fields' }, text.wrap, action.wrap, actor.wrap, since.wrap, until.wrap),
    el('p', { class: 'buttons' }, el('button', { type: 'submit', text: t('find') }), el('button', { type: 'reset', class: 'secondary', text: t('reset') }), csv));
  const results = el('div', { class: 'audit-results' });
  const count = el('p', { role: 'status' });
  const more = el('button', { type: 'button', class: 'secondary', text: t('more'), hidden: true });
  const verifyResult = el('p', { role: 'status', id: 'audit-verify-result' });
  const verify = el('button', { type: 'button', text: t('verify'), 'aria-describedby': 'audit-verify-help' });
  root.append(
    el('p', { class: 'intro', text: t('intro') }),
    form,
    count,
    results,
    el('p', {}, more),
    el('section', { 'aria-labelledby': 'audit-verify-h' },
      el('h2', { id: 'audit-verify-h', text: t('verifyTitle') }),
      el('p', { class: 'help', id: 'audit-verify-help', text: t('verifyHelp') }),
      el('p', {}, verify),
      verifyResult),
  );

  let rows = [];
  let next = null;

  function query() {
    const params = new URLSearchParams();
    if (text.input.value.trim()) params.set('q', text.input.value.trim());
    if (action.input.value.trim()) params.set('action', action.input.value.trim());
    if (actor.input.value.trim()) params.set('actor', actor.input.value.trim());
    const from = dayStart(since.input.value);
    const to = dayStart(until.input.value);
    if (from !== null) params.set('since', String(from));
    if (to !== null) params.set('until', String(to + 86_400_000));
    return params;
  }

  function who(entry) {
    if (entry.actor === 'cli') return t('cli');
    if (entry.actor === 'system') return t('system');
    return entry.actor_name ?? entry.actor ?? '';
  }

  function draw() {
    if (!rows.length) {
      results.replaceChildren(el('p', { text: t('none') }));
    } else {
      results.replaceChildren(table(t('caption'), [t('entry'), t('when'), t('who'), t('what'), t('target'), t('details')], rows.map((e) => [
        { text: String(e.id), class: 'num' },
        formatTime(e.at, ctx.lang),
        who(e),
        { text: e.action, class: 'mono' },
        { text: e.target ?? '', class: 'mono' },
        { text: detailText(e.detail), class: 'mono' },
      ])));
    }
    count.textContent = t('shown', { n: rows.length });
    more.hidden = next === null;
  }

  async function load(append) {
    for (const f of [text, action, actor, since, until]) f.clear();
    if (since.input.value && until.input.value && until.input.value < since.input.value) {
      until.setError(t('datesWrong'));
      until.input.focus();
      return;
    }
    const params = query();
    csv.href = `/api/admin/audit.csv${params.size ? `?${params}` : ''}`;
    params.set('limit', String(PAGE));
    if (append && next !== null) params.set('before', String(next));
    try {
      const data = await ctx.api(`/api/admin/audit?${params}`);
      rows = append ? rows.concat(data.entries) : data.entries;
      next = data.next_before;
      draw();
    } catch (err) {
      text.setError(problem(err));
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    load(false);
  });
  form.addEventListener('reset', () => queueMicrotask(() => load(false)));
  more.addEventListener('click', () => load(true));
  verify.addEventListener('click', async () => {
    verify.disabled = true;
    verifyResult.className = '';
    verifyResult.textContent = t('verifying');
    try {
      const check = await ctx.api('/api/admin/audit/verify');
      verifyResult.className = check.ok ? 'status-ok' : 'status-bad';
      verifyResult.textContent = check.ok
        ? t('intact', { n: check.entries })
        : t('broken', { id: check.broken_at, reason: check.reason, n: check.entries });
    } catch (err) {
      verifyResult.className = 'status-bad';
      verifyResult.textContent = problem(err);
    } finally {
      verify.disabled = false;
    }
  });
  await load(false);
}
