/* Anonymous statistics per team and day (chatserver/records/stats.py): the server's SVG chart, the
 * figures as a table ("< 5" where a count is too small to show), and the CSV download.
 * GET /api/teams/SLUG/stats, stats.svg, stats.csv. */
import { el, field, isoDay, problem, table, teamPicker } from './ui.js';

export const strings = {
  en: {
    title: 'Statistics',
    intro: 'How many conversations this team had per day, how long people waited and how long conversations took. The figures name no person and no conversation, and they stay after the conversations are deleted. Counts from 1 to 4 are shown as "< 5", and times from fewer than 5 conversations are not shown, so that nobody can be recognised.',
    from: 'From',
    fromHelp: 'First day (in the team\'s time zone).',
    to: 'To',
    toHelp: 'Last day; at most 366 days in all.',
    metric: 'Chart',
    metricHelp: 'Which figure the chart draws per day.',
    m_started: 'Conversations started',
    m_accepted: 'Conversations accepted',
    m_abandoned: 'Conversations nobody accepted',
    m_waiting_median_s: 'Waiting time, median',
    m_waiting_p90_s: 'Waiting time, 90th percentile',
    m_duration_median_s: 'Duration, median',
    m_duration_p90_s: 'Duration, 90th percentile',
    show: 'Show',
    csv: 'Download as CSV',
    chartAlt: 'Bar chart: {metric} per day, {from} to {to}. The same figures are in the table below.',
    caption: 'Figures per day, {from} to {to} (times in minutes:seconds)',
    day: 'Day',
    total: 'Whole range',
    started: 'Started',
    accepted: 'Accepted',
    abandoned: 'Not accepted',
    waitMed: 'Waiting, median',
    waitP90: 'Waiting, 90th pct.',
    durMed: 'Duration, median',
    durP90: 'Duration, 90th pct.',
    notShown: 'not shown',
    topicsCaption: 'By topic and by close category, whole range',
    kind: 'Kind',
    name: 'Name',
    count: 'Conversations',
    topic: 'Topic',
    closeCat: 'Close category',
    noneKey: '(none)',
    datesWrong: '"To" must not be before "From".',
    required: 'Please choose a date.',
    suppressed: '< 5 means from 1 to 4.',
  },
  de: {
    title: 'Statistik',
    intro: 'Wie viele Gespräche dieses Team pro Tag hatte, wie lange gewartet wurde und wie lange Gespräche dauerten. Die Zahlen nennen keine Person und kein Gespräch und bleiben auch nach dem Löschen der Gespräche erhalten. Anzahlen von 1 bis 4 erscheinen als „< 5“, und Zeiten aus weniger als 5 Gesprächen werden nicht gezeigt, damit niemand erkennbar wird.',
    from: 'Von',
    fromHelp: 'Erster Tag (in der Zeitzone des Teams).',
    to: 'Bis',
    toHelp: 'Letzter Tag; insgesamt höchstens 366 Tage.',
    metric: 'Diagramm',
    metricHelp: 'Welche Zahl das Diagramm pro Tag zeigt.',
    m_started: 'Begonnene Gespräche',
    m_accepted: 'Angenommene Gespräche',
    m_abandoned: 'Nicht angenommene Gespräche',
    m_waiting_median_s: 'Wartezeit, Median',
    m_waiting_p90_s: 'Wartezeit, 90. Perzentil',
    m_duration_median_s: 'Dauer, Median',
    m_duration_p90_s: 'Dauer, 90. Perzentil',
    show: 'Anzeigen',
    csv: 'Als CSV herunterladen',
    chartAlt: 'Balkendiagramm: {metric} pro Tag, {from} bis {to}. Dieselben Zahlen stehen in der Tabelle darunter.',
    caption: 'Zahlen pro Tag, {from} bis {to} (Zeiten in Minuten:Sekunden)',
    day: 'Tag',
    total: 'Ganzer Zeitraum',
    started: 'Begonnen',
    accepted: 'Angenommen',
    abandoned: 'Nicht angenommen',
    waitMed: 'Wartezeit, Median',
    waitP90: 'Wartezeit, 90. Pz.',
    durMed: 'Dauer, Median',
    durP90: 'Dauer, 90. Pz.',
    notShown: 'nicht gezeigt',
    topicsCaption: 'Nach Thema und Abschlusskategorie, ganzer Zeitraum',
    kind: 'Art',
    name: 'Name',
    count: 'Gespräche',
    topic: 'Thema',
    closeCat: 'Abschlusskategorie',
    noneKey: '(keine)',
    datesWrong: '„Bis“ darf nicht vor „Von“ liegen.',
    required: 'Bitte ein Datum wählen.',
    suppressed: '< 5 heißt: 1 bis 4.',
  },
};

const METRICS = ['started', 'accepted', 'abandoned', 'waiting_median_s', 'waiting_p90_s', 'duration_median_s', 'duration_p90_s'];
const TIMES = new Set(['waiting_median_s', 'waiting_p90_s', 'duration_median_s', 'duration_p90_s']);

function clock(value) {
  if (typeof value !== 'number') return null;
  return `${Math.floor(value / 60)}:${String(value % 60).padStart(2, '0')}`;
}

export async function render(ctx, root) {
  const { t } = ctx;
  const from = field({ label: t('from'), help: t('fromHelp'), attrs: { type: 'date', value: isoDay(Date.now() - 29 * 86_400_000) }, wrapTag: 'div' });
  const to = field({ label: t('to'), help: t('toHelp'), attrs: { type: 'date', value: isoDay() }, wrapTag: 'div' });
  const metric = field({ label: t('metric'), help: t('metricHelp'), control: 'select', options: METRICS.map((m) => [m, t(`m_${m}`)]), wrapTag: 'div' });
  const form = el('form', { novalidate: true }, el('div', { class: 'fields' }, from.wrap, to.wrap, metric.wrap), el('p', {}, el('button', { type: 'submit', text: t('show') })));
  const out = el('div', { class: 'stats-out' });
  let team = null;
  let turn = 0; // only the latest request is drawn (a slow answer may come after)
  const picker = teamPicker(ctx, (slug) => {
    team = slug;
    return show();
  });
  root.append(el('p', { class: 'intro', text: t('intro') }), picker, form, out);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    show();
  });
  await picker.ready;

  async function show() {
    const mine = ++turn;
    from.clear();
    to.clear();
    if (!from.input.value) return from.setError(t('required'));
    if (!to.input.value) return to.setError(t('required'));
    if (to.input.value < from.input.value) {
      to.setError(t('datesWrong'));
      to.input.focus();
      return;
    }
    const base = `/api/teams/${encodeURIComponent(team)}/stats`;
    const range = new URLSearchParams({ from: from.input.value, to: to.input.value });
    let report;
    try {
      report = await ctx.api(`${base}?${range}`);
    } catch (err) {
      if (mine !== turn) return;
      from.setError(problem(err));
      from.input.focus();
      return;
    }
    if (mine !== turn) return;
    const chosen = metric.input.value;
    const chart = new URLSearchParams({ ...Object.fromEntries(range), metric: chosen });
    const cell = (key, value) => {
      if (value === null || value === undefined) return { text: t('notShown'), class: 'num' };
      return { text: TIMES.has(key) ? clock(value) : String(value), class: 'num' };
    };
    const keys = ['started', 'accepted', 'abandoned', 'waiting_median_s', 'waiting_p90_s', 'duration_median_s', 'duration_p90_s'];
    const row = (label, r) => [{ text: label, header: true }, ...keys.map((k) => cell(k, r[k]))];
    const heads = [t('day'), ...['started', 'accepted', 'abandoned', 'waitMed', 'waitP90', 'durMed', 'durP90'].map((k) => ({ text: t(k), class: 'num' }))];
    const byKind = [
      ...Object.entries(report.total.topics ?? {}).map(([k, n]) => [t('topic'), k === '(none)' ? t('noneKey') : k, { text: String(n), class: 'num' }]),
      ...Object.entries(report.total.close_categories ?? {}).map(([k, n]) => [t('closeCat'), k === '(none)' ? t('noneKey') : k, { text: String(n), class: 'num' }]),
    ];
    out.replaceChildren(
      el('p', {}, el('a', { class: 'button secondary', href: `${base}.csv?${range}`, download: `stats-${team}.csv`, text: t('csv') })),
      el('figure', { class: 'chart' }, el('img', { src: `${base}.svg?${chart}`, alt: t('chartAlt', { metric: t(`m_${chosen}`), from: report.from, to: report.to }) })),
      table(t('caption', { from: report.from, to: report.to }), heads, [...report.days.map((d) => row(d.day, d)), row(t('total'), report.total)]),
      el('p', { class: 'help', text: t('suppressed') }),
      byKind.length ? table(t('topicsCaption'), [t('kind'), t('name'), { text: t('count'), class: 'num' }], byKind) : null,
    );
  }
}
