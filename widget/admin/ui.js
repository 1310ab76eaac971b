/* Small building blocks shared by the admin pages: elements, labelled fields with help and
 * error texts tied by aria-describedby, the team picker, tables, a confirmation dialog,
 * dates. Every text goes in with textContent, never as markup. */
import { translator } from './i18n.js';

const TEXTS = {
  en: {
    team: 'Team',
    teamHelp: 'The settings below are this team\'s.',
    noTeams: 'There is no team yet. An admin creates teams on the Teams page.',
    confirm: 'Confirm',
    cancel: 'Cancel',
    confirmTitle: 'Please confirm',
    archived: '{name} (archived)',
  },
  de: {
    team: 'Team',
    teamHelp: 'Die Einstellungen unten gelten für dieses Team.',
    noTeams: 'Es gibt noch kein Team. Teams werden auf der Seite „Teams“ angelegt.',
    confirm: 'Bestätigen',
    cancel: 'Abbrechen',
    confirmTitle: 'Bitte bestätigen',
    archived: '{name} (archiviert)',
  },
};

let serial = 0;
/** A unique id for a page's elements (pages are rendered again on each visit). */
export function uid(prefix) {
  serial += 1;
  return `${prefix}-${serial}`;
}

/** `el('p', {class: 'x', text: 'hello', onclick: fn}, child, ...)` */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/**
 * A labelled control with an optional help text and an error text, both named by the
 * control's aria-describedby. `control` is 'input' (default), 'textarea' or 'select'.
 * @returns {{wrap, input, error, setError(text), clear()}}
 */
export function field({ label, help = '', control = 'input', attrs = {}, options = [], wrapTag = 'p' }) {
  const id = uid('f');
  const helpId = `${id}-help`;
  const errorId = `${id}-error`;
  const input = el(control, { id, ...attrs });
  for (const [value, text] of options) input.append(new Option(text, value));
  const describedBy = [help ? helpId : null, errorId].filter(Boolean).join(' ');
  input.setAttribute('aria-describedby', describedBy);
  const error = el('span', { id: errorId, class: 'error' });
  const wrap = el(wrapTag, {}, el('label', { for: id, text: label }), input, help ? el('small', { id: helpId, class: 'help', text: help }) : null, error);
  return {
    wrap,
    input,
    error,
    setError(text) {
      error.textContent = text;
      if (text) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    },
    clear() {
      this.setError('');
    },
  };
}

/** Writes a status line: a confirmation, or (``ok`` false) a refusal. */
export function say(node, text, ok = true) {
  node.className = ok ? 'status-ok' : 'form-status';
  node.textContent = text;
}

/** The message to show for a refused request (the server's words, or the error's). */
export function problem(err) {
  return err?.message || String(err);
}

// ------------------------------------------------------------------ the team picker
let chosenTeam = null; // kept while the page lives, so each page opens on the same team

/**
 * A select of the teams the signed-in person may see (`ctx.teams`), remembered across
 * pages; calls `onChange(slug)` at once and on each change. Returns the element, whose
 * `ready` is the promise of that first call, or a paragraph saying there is no team
 * (and never calls onChange then; its `ready` is undefined).
 */
export function teamPicker(ctx, onChange, { help = true } = {}) {
  const t = translator(TEXTS, ctx.lang);
  const teams = ctx.teams ?? [];
  if (!teams.length) return el('p', { text: t('noTeams') });
  if (!teams.some((team) => team.slug === chosenTeam)) chosenTeam = (teams.find((team) => !team.archived) ?? teams[0]).slug;
  const picker = field({
    label: t('team'),
    help: help ? t('teamHelp') : '',
    control: 'select',
    options: teams.map((team) => [team.slug, team.archived ? t('archived', { name: team.name }) : team.name]),
    attrs: { class: 'team-picker' },
  });
  picker.input.value = chosenTeam;
  picker.input.addEventListener('change', () => {
    chosenTeam = picker.input.value;
    onChange(chosenTeam);
  });
  // The first team's content: pages await `ready` so the shell knows when they are done.
  picker.wrap.ready = Promise.resolve().then(() => onChange(chosenTeam));
  return picker.wrap;
}

// ------------------------------------------------------------------ tables
/** A table with a caption, header cells and rows of cells (text, or a Node, or {text, class}). */
export function table(caption, headers, rows) {
  const head = el('tr', {}, ...headers.map((h) => el('th', { scope: 'col', ...(typeof h === 'object' ? h : { text: h }) })));
  const body = rows.map((cells) => el('tr', {}, ...cells.map((c, i) => {
    const props = c instanceof Node ? {} : typeof c === 'object' && c !== null ? c : { text: c ?? '' };
    const cell = el(i === 0 && props.header ? 'th' : 'td', { ...props, header: undefined, ...(i === 0 && props.header ? { scope: 'row' } : {}) });
    if (c instanceof Node) cell.append(c);
    return cell;
  })));
  return el('div', { class: 'table-wrap' }, el('table', {}, el('caption', { text: caption }), el('thead', {}, head), el('tbody', {}, ...body)));
}

// ------------------------------------------------------------------ confirmation
/**
 * Asks in a modal dialog; resolves true on Confirm, false on Cancel or Escape.
 * @param {{lang: string}} ctx
 * @param {string} text
 * @param {{confirm?: string, danger?: boolean}} [options] confirm: the Confirm button's text
 * @returns {Promise<boolean>}
 */
export function confirmAction(ctx, text, { confirm, danger = false } = {}) {
  const t = translator(TEXTS, ctx.lang);
  const heading = uid('confirm');
  const dialog = el('dialog', { 'aria-labelledby': heading, class: 'confirm' });
  const ok = el('button', { type: 'button', class: danger ? 'danger' : '', text: confirm || t('confirm') });
  const cancel = el('button', { type: 'button', class: 'secondary', text: t('cancel') });
  dialog.append(el('h2', { id: heading, text: t('confirmTitle') }), el('p', { text }), el('p', { class: 'buttons' }, ok, cancel));
  document.body.append(dialog);
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    ok.addEventListener('click', () => done(true));
    cancel.addEventListener('click', () => done(false));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      done(false);
    });
    dialog.showModal();
    cancel.focus();
  });
}

// ------------------------------------------------------------------ time
export function formatTime(ms, lang) {
  if (ms === null || ms === undefined) return '';
  return new Intl.DateTimeFormat(lang === 'de' ? 'de-DE' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
}

/** The local date `YYYY-MM-DD` of `ms` (default now). */
export function isoDay(ms = Date.now()) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Local midnight at the start of `YYYY-MM-DD` as unix ms (null for an empty value). */
export function dayStart(day) {
  if (!day) return null;
  const [y, m, d] = day.split('-').map(Number);
  return new Date(y, m - 1, d).getTime();
}
