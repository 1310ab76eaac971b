/* The privacy report (GET /api/admin/privacy-report?format=html|md): what this server
 * stores and for how long, for the data-protection officer. Shown as links when the server
 * offers it; "not available" when it answers 404. */
import { el, problem } from './ui.js';

export const strings = {
  en: {
    title: 'Privacy report',
    intro: 'A summary for the data-protection officer: what this chat stores, for how long, and who can read it. It is made from the settings in force when it is opened.',
    open: 'Open the privacy report (web page)',
    markdown: 'Download it as Markdown text',
    notAvailable: 'The privacy report is not available on this server.',
    checking: 'Looking for the report…',
  },
  de: {
    title: 'Datenschutzbericht',
    intro: 'Eine Übersicht für die Datenschutzbeauftragten: was dieser Chat speichert, wie lange und wer es lesen kann. Er entsteht beim Öffnen aus den gerade geltenden Einstellungen.',
    open: 'Datenschutzbericht öffnen (Webseite)',
    markdown: 'Als Markdown-Text herunterladen',
    notAvailable: 'Auf diesem Server gibt es den Datenschutzbericht nicht.',
    checking: 'Bericht wird gesucht …',
  },
};

const REPORT = '/api/admin/privacy-report';

export async function render(ctx, root) {
  const { t } = ctx;
  const status = el('p', { role: 'status', text: t('checking') });
  root.append(el('p', { class: 'intro', text: t('intro') }), status);
  let res;
  try {
    res = await fetch(`${REPORT}?format=md`, { credentials: 'same-origin', cache: 'no-store' });
  } catch (err) {
    status.textContent = problem(err);
    return;
  }
  if (res.status === 404 || res.status === 405) {
    status.textContent = t('notAvailable');
    return;
  }
  if (!res.ok) {
    const data = await res.json().catch(() => ({}));
    status.textContent = data.error?.message ?? res.statusText;
    return;
  }
  status.textContent = '';
  root.append(el('ul', {},
    el('li', {}, el('a', { href: `${REPORT}?format=html`, target: '_blank', rel: 'noopener', text: t('open') })),
    el('li', {}, el('a', { href: `${REPORT}?format=md`, download: 'privacy-report.md', text: t('markdown') }))));
}
