/* Embed snippet: the one tag an agency puts on its website, made from the settings chosen
 * here, with the Subresource Integrity hash of the loader this server serves (computed in
 * this browser from the served bytes) and the pin of the team key from the member list
 * this browser checked. A live preview frames exactly that tag. docs/admin.md, "Embed
 * snippet", and docs/widget.md explain each setting. */
import { el, field, problem } from './ui.js';
import { KeyProblem, teamKeys } from './keys.js';
import * as e2e from '/widget/shared/e2e-core.js';

export const strings = {
  en: {
    title: 'Embed snippet',
    intro: 'Put this tag into every page of your website where young people should find the chat (before </body>). It loads nothing from anywhere else, and nothing before the visitor clicks.',
    team: 'Team',
    topic: 'Topic asked for',
    topicNone: 'Let the client choose (or none)',
    topicHelp: 'Use a topic for pages about one theme, e.g. a school page.',
    lang: 'Language',
    langAuto: 'The visitor\'s browser language',
    langDe: 'German', langEn: 'English',
    position: 'Position of the button',
    right: 'bottom right', left: 'bottom left',
    color: 'Button colour',
    textColor: 'Button text colour',
    colorHelp: 'Keep enough contrast: dark button, light text.',
    contrastLow: 'These two colours have too little contrast ({ratio}:1; at least 4.5:1 is needed for people with low vision).',
    label: 'Button text',
    labelHelp: 'Empty for "Chat with a counsellor" / "Chat mit der Beratung". At most 60 characters.',
    labelBad: 'At most 60 characters, without < or >.',
    exit: 'Quick exit goes to',
    exitHelp: 'A neutral website that replaces yours when a client presses quick exit, e.g. a weather site. Must start with https://.',
    exitBad: 'Enter a full address starting with https:// or http://.',
    snippet: 'Your snippet',
    snippetHelp: 'Copy it exactly. The integrity value makes browsers refuse a changed loader; the pin makes the chat refuse a changed team key.',
    copy: 'Copy snippet', copied: 'Snippet copied.',
    noOrigins: 'No website may embed this team yet. Add your website on the Teams page, or the chat will not open there.',
    origins: 'Websites allowed: {list}',
    noKeys: 'This team has no keys yet: set them up on the Teams page first.',
    keyProblem: 'The team\'s keys failed a check; see the Teams page.',
    preview: 'Preview',
    previewHelp: 'This is the real widget: a chat started in the preview reaches the team\'s queue.',
    previewTitle: 'Preview of the widget on a website',
    safety: 'Safety number of the team key: {safety}',
  },
  de: {
    title: 'Einbettungs-Snippet',
    intro: 'Dieses Tag in jede Seite Ihrer Website einfügen, auf der junge Menschen den Chat finden sollen (vor </body>). Es lädt nichts von anderswo und nichts, bevor jemand klickt.',
    team: 'Team',
    topic: 'Vorgegebenes Thema',
    topicNone: 'Ratsuchende wählen selbst (oder keins)',
    topicHelp: 'Ein Thema passt für Seiten zu einem Thema, z. B. eine Schulseite.',
    lang: 'Sprache',
    langAuto: 'Sprache des Browsers',
    langDe: 'Deutsch', langEn: 'Englisch',
    position: 'Position der Schaltfläche',
    right: 'unten rechts', left: 'unten links',
    color: 'Farbe der Schaltfläche',
    textColor: 'Textfarbe der Schaltfläche',
    colorHelp: 'Auf genug Kontrast achten: dunkle Schaltfläche, helle Schrift.',
    contrastLow: 'Diese beiden Farben haben zu wenig Kontrast ({ratio}:1; für Menschen mit Sehschwäche sind mindestens 4,5:1 nötig).',
    label: 'Text der Schaltfläche',
    labelHelp: 'Leer für „Chat mit der Beratung“ / „Chat with a counsellor“. Höchstens 60 Zeichen.',
    labelBad: 'Höchstens 60 Zeichen, ohne < oder >.',
    exit: 'Schnellausstieg führt zu',
    exitHelp: 'Eine neutrale Website, die Ihre ersetzt, wenn jemand den Schnellausstieg drückt, z. B. eine Wetterseite. Beginnt mit https://.',
    exitBad: 'Eine vollständige Adresse eingeben, die mit https:// oder http:// beginnt.',
    snippet: 'Ihr Snippet',
    snippetHelp: 'Genau so kopieren. Der Integritätswert lässt Browser einen veränderten Loader ablehnen; der Pin lässt den Chat einen veränderten Teamschlüssel ablehnen.',
    copy: 'Snippet kopieren', copied: 'Snippet kopiert.',
    noOrigins: 'Noch keine Website darf dieses Team einbinden. Ihre Website auf der Seite „Teams“ hinzufügen, sonst öffnet sich der Chat dort nicht.',
    origins: 'Erlaubte Websites: {list}',
    noKeys: 'Dieses Team hat noch keine Schlüssel: zuerst auf der Seite „Teams“ einrichten.',
    keyProblem: 'Die Schlüssel des Teams haben eine Prüfung nicht bestanden; siehe Seite „Teams“.',
    preview: 'Vorschau',
    previewHelp: 'Das ist das echte Widget: Ein Chat aus der Vorschau landet in der Warteschlange des Teams.',
    previewTitle: 'Vorschau des Widgets auf einer Website',
    safety: 'Sicherheitsnummer des Teamschlüssels: {safety}',
  },
};

const EXIT = /^https?:\/\/[^\s"'<>]{1,300}$/;
// eslint-disable-next-line no-control-regex -- control characters are what it refuses
const LABEL = /^[^<>\u0000-\u001f]{0,60}$/;

/** The exact tag, attribute for attribute as chatserver/web/widget_http.embed_snippet. */
export function snippetTag(origin, integrity, team, data) {
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;');
  const attrs = Object.entries({ team, ...data }).filter(([, v]) => v).map(([k, v]) => ` data-${k}="${esc(v)}"`).join('');
  return `<script src="${esc(origin)}/widget/loader.js" integrity="${integrity}" crossorigin="anonymous"${attrs}></script>`;
}

/** SHA-384 of the loader as this server serves it, as a Subresource Integrity value. */
async function loaderIntegrity() {
  const res = await fetch('/widget/loader.js', { cache: 'no-store', credentials: 'omit' });
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-384', await res.arrayBuffer()));
  return `sha384-${e2e.b64encode(digest)}`;
}

function luminance(hex) {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}

function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

export async function render(ctx, root) {
  const { t } = ctx;
  const teams = ctx.teams.filter((x) => !x.archived);
  const integrity = await loaderIntegrity();
  const team = field({ label: t('team'), control: 'select', options: teams.map((x) => [x.slug, x.name]) });
  const topic = field({ label: t('topic'), help: t('topicHelp'), control: 'select' });
  const lang = field({ label: t('lang'), control: 'select', options: [['', t('langAuto')], ['de', t('langDe')], ['en', t('langEn')]] });
  const position = field({ label: t('position'), control: 'select', options: [['', t('right')], ['left', t('left')]] });
  const color = field({ label: t('color'), help: t('colorHelp'), attrs: { type: 'color', value: '#0b5cad' } });
  const textColor = field({ label: t('textColor'), attrs: { type: 'color', value: '#ffffff' } });
  const label = field({ label: t('label'), help: t('labelHelp'), attrs: { maxlength: '60', autocomplete: 'off' } });
  const exit = field({ label: t('exit'), help: t('exitHelp'), attrs: { type: 'url', value: 'https://www.google.com/', autocomplete: 'off', spellcheck: 'false' } });
  const notes = el('div');
  const out = field({ label: t('snippet'), help: t('snippetHelp'), control: 'textarea', attrs: { readonly: true, rows: '5', class: 'mono snippet', spellcheck: 'false' } });
  const copied = el('span', { role: 'status', class: 'status-ok' });
  const copy = el('button', { type: 'button', text: t('copy') });
  const frame = el('iframe', { title: t('previewTitle'), class: 'preview', src: 'about:blank' });
  root.append(
    el('p', { class: 'intro', text: t('intro') }),
    el('form', { novalidate: true, onsubmit: (e) => e.preventDefault() }, el('div', { class: 'fields' }, team.wrap, topic.wrap, lang.wrap, position.wrap, color.wrap, textColor.wrap, label.wrap, exit.wrap)),
    notes, out.wrap, el('p', { class: 'buttons' }, copy, copied),
    el('h2', { text: t('preview') }), el('p', { class: 'help', text: t('previewHelp') }), frame,
  );
  copy.addEventListener('click', async () => {
    out.input.select();
    try {
      await navigator.clipboard.writeText(out.input.value);
    } catch {
      document.execCommand('copy');
    }
    copied.textContent = t('copied');
  });

  const pinOf = new Map();
  let timer = null;
  let turn = 0; // only the latest change writes the snippet (key checks take a moment)
  const update = async (teamChanged) => {
    const mine = ++turn;
    const chosen = teams.find((x) => x.slug === team.input.value);
    if (!chosen) return;
    if (teamChanged) {
      const keep = topic.input.value;
      topic.input.replaceChildren(new Option(t('topicNone'), ''), ...chosen.topics.map((x) => new Option(x.name, x.slug)));
      topic.input.value = chosen.topics.some((x) => x.slug === keep) ? keep : '';
    }
    const info = [];
    let pin = pinOf.get(chosen.slug);
    if (pin === undefined) {
      try {
        const keys = await teamKeys(ctx.keys, chosen.slug);
        pin = keys.roster ? { pin: keys.pin, safety: keys.safety } : null;
      } catch (err) {
        pin = err instanceof KeyProblem ? 'problem' : null;
      }
      pinOf.set(chosen.slug, pin);
    }
    if (mine !== turn) return;
    if (pin === null) info.push(el('p', { class: 'status-bad', text: t('noKeys') }));
    else if (pin === 'problem') info.push(el('p', { class: 'status-bad', role: 'alert', text: t('keyProblem') }));
    else info.push(el('p', { class: 'help', text: t('safety', { safety: pin.safety }) }));
    info.push(chosen.origins.length ? el('p', { text: t('origins', { list: chosen.origins.join(', ') }) }) : el('p', { class: 'status-bad', text: t('noOrigins') }));
    for (const f of [color, label, exit]) f.clear();
    let valid = true;
    const ratio = contrast(color.input.value, textColor.input.value);
    if (ratio < 4.5) {
      color.setError(t('contrastLow', { ratio: ratio.toFixed(1) }));
      valid = false;
    }
    if (!LABEL.test(label.input.value)) {
      label.setError(t('labelBad'));
      valid = false;
    }
    if (!EXIT.test(exit.input.value.trim())) {
      exit.setError(t('exitBad'));
      valid = false;
    }
    notes.replaceChildren(...info);
    const data = {
      pin: pin && pin !== 'problem' ? pin.pin : '',
      topic: topic.input.value,
      lang: lang.input.value,
      position: position.input.value,
      color: color.input.value.toLowerCase() === '#0b5cad' ? '' : color.input.value,
      'text-color': textColor.input.value.toLowerCase() === '#ffffff' ? '' : textColor.input.value,
      label: label.input.value.trim(),
      exit: exit.input.value.trim(),
    };
    out.input.value = snippetTag(location.origin, integrity, chosen.slug, data);
    copy.disabled = !valid;
    if (valid) {
      const query = new URLSearchParams({ team: chosen.slug });
      for (const [k, v] of Object.entries(data)) if (v) query.set(k, v);
      clearTimeout(timer);
      timer = setTimeout(() => {
        frame.src = `/admin/preview?${query}`;
      }, 300);
    }
  };
  team.input.addEventListener('change', () => update(true).catch((err) => notes.replaceChildren(el('p', { class: 'form-status', text: problem(err) }))));
  for (const f of [topic, lang, position, color, textColor, label, exit]) {
    f.input.addEventListener('input', () => update(false).catch((err) => notes.replaceChildren(el('p', { class: 'form-status', text: problem(err) }))));
  }
  await update(true);
}
