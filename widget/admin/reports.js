/* Sweep reports (docs/retention.md, "Reports"): each retention sweep leaves a report in the
 * audit log with counts only: when, how long, what was deleted per category, held
 * conversations kept, storage keys destroyed, errors. GET /api/retention/reports. */
import { el, formatTime, problem, table } from './ui.js';

export const strings = {
  en: {
    title: 'Sweep reports',
    intro: 'The sweep deletes what is past its retention time, every 15 minutes by default. Each sweep writes this report into the audit log: counts only, never content. The newest 100 are shown.',
    caption: 'Sweeps, newest first',
    when: 'When',
    duration: 'Duration',
    deleted: 'Deleted or done, per category',
    held: 'Held conversations kept',
    keys: 'Storage keys destroyed',
    errors: 'Errors',
    nothing: 'nothing',
    noErrors: 'none',
    none: 'No sweep has run yet.',
    seconds: '{n} s',
    forbidden: 'Sweep reports cover every team: only admins can read them. Ask an admin.',
    c_messages: 'messages', c_envelopes: 'notes', c_conversations_emptied: 'conversations emptied',
    c_abandoned: 'abandoned conversations', c_idle_closed: 'idle conversations closed',
    c_metadata: 'conversation records', c_epoch_keys: 'old team keys', c_audit: 'audit entries',
    c_staff: 'staff accounts', c_invites: 'invitations', c_sessions: 'sessions', c_blocks: 'blocks',
    c_holds_expired: 'holds ended', c_statistics_recorded: 'statistics recorded',
  },
  de: {
    title: 'Löschberichte',
    intro: 'Der Löschlauf entfernt, was seine Löschfrist überschritten hat, standardmäßig alle 15 Minuten. Jeder Lauf schreibt diesen Bericht ins Protokoll: nur Zahlen, nie Inhalte. Gezeigt werden die neuesten 100.',
    caption: 'Löschläufe, neueste zuerst',
    when: 'Wann',
    duration: 'Dauer',
    deleted: 'Gelöscht oder erledigt, je Kategorie',
    held: 'Gesperrte Gespräche behalten',
    keys: 'Speicherschlüssel vernichtet',
    errors: 'Fehler',
    nothing: 'nichts',
    noErrors: 'keine',
    none: 'Es lief noch kein Löschlauf.',
    seconds: '{n} s',
    forbidden: 'Löschberichte betreffen alle Teams: Nur Admins können sie lesen. Bitte bei einem Admin nachfragen.',
    c_messages: 'Nachrichten', c_envelopes: 'Notizen', c_conversations_emptied: 'Gespräche geleert',
    c_abandoned: 'nicht angenommene Gespräche', c_idle_closed: 'ruhende Gespräche geschlossen',
    c_metadata: 'Gesprächsdaten', c_epoch_keys: 'alte Teamschlüssel', c_audit: 'Protokolleinträge',
    c_staff: 'Konten', c_invites: 'Einladungen', c_sessions: 'Sitzungen', c_blocks: 'Sperren',
    c_holds_expired: 'Sperren beendet', c_statistics_recorded: 'Statistik erfasst',
  },
};

export async function render(ctx, root) {
  const { t } = ctx;
  root.append(el('p', { class: 'intro', text: t('intro') }));
  let reports;
  try {
    reports = await ctx.api('/api/retention/reports');
  } catch (err) {
    root.append(el('p', { class: 'form-status', role: 'alert', text: err.status === 403 ? t('forbidden') : problem(err) }));
    return;
  }
  if (!reports.length) {
    root.append(el('p', { text: t('none') }));
    return;
  }
  const label = (key) => {
    const text = t(`c_${key}`);
    return text === `c_${key}` ? key : text;
  };
  const seconds = (ms) => t('seconds', { n: (Math.max(0, ms ?? 0) / 1000).toLocaleString(ctx.lang === 'de' ? 'de-DE' : 'en-GB', { maximumFractionDigits: 1 }) });
  root.append(table(t('caption'), [t('when'), { text: t('duration'), class: 'num' }, t('deleted'), { text: t('held'), class: 'num' }, { text: t('keys'), class: 'num' }, t('errors')],
    reports.map((r) => {
      const counts = Object.entries(r.counts ?? {});
      return [
        { text: formatTime(r.at, ctx.lang), header: true },
        { text: seconds(r.duration_ms), class: 'num' },
        counts.length ? counts.map(([k, n]) => `${label(k)}: ${n}`).join(', ') : t('nothing'),
        { text: String(r.holds_skipped ?? 0), class: 'num' },
        { text: String(r.keys_destroyed ?? 0), class: 'num' },
        (r.errors ?? []).length ? r.errors.join('; ') : t('noErrors'),
      ];
    })));
}
