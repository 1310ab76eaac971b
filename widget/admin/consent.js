/* Consent text: the team's own paragraph of the chat's consent screen, which a young
 * person reads before the first message (what is stored, for how long, who reads it), in
 * German and English. Every change is a new version; earlier ones stay readable, because
 * each conversation records the version its client agreed to. docs/admin.md, "Consent
 * text", explains it for admins. */
import { el, field, formatTime, problem, table, teamPicker } from './ui.js';

export const strings = {
  en: {
    title: 'Consent text',
    intro: 'Before the first message, the chat shows a short statement (no name needed, end-to-end encryption, quick exit) and then this text of yours. Say in plain words what you store, for how long and who reads it. Write German with "Du".',
    none: 'This team has no text of its own yet: the chat shows only its short statement.',
    current: 'Version {version} is shown, since {when}.',
    de: 'Text in German',
    en: 'Text in English',
    textHelp: 'Up to 4000 characters. Line breaks are kept. Young people read this on a phone: keep it short.',
    missing: 'Please write the text in this language too.',
    suggest: 'Start from a suggestion',
    suggestHelp: 'Fills both fields with a text made from this team\'s deletion rules (the same as the privacy notice). Check and complete it before saving.',
    suggested: 'Suggestion filled in. Check it, then save.',
    save: 'Save as a new version',
    saved: 'Saved: version {version} is shown from now on.',
    unchanged: 'Nothing changed: version {version} stays.',
    historyCaption: 'Versions',
    colVersion: 'Version', colWhen: 'From', colText: 'Text',
    show: 'Show version {version}',
  },
  de: {
    title: 'Einwilligungstext',
    intro: 'Vor der ersten Nachricht zeigt der Chat eine kurze Erklärung (kein Name nötig, Ende-zu-Ende-Verschlüsselung, Schnellausstieg) und danach diesen Text von Ihnen. Sagen Sie in einfachen Worten, was gespeichert wird, wie lange und wer es liest. Auf Deutsch bitte mit „Du“.',
    none: 'Dieses Team hat noch keinen eigenen Text: Der Chat zeigt nur seine kurze Erklärung.',
    current: 'Version {version} wird gezeigt, seit {when}.',
    de: 'Text auf Deutsch',
    en: 'Text auf Englisch',
    textHelp: 'Bis zu 4000 Zeichen. Zeilenumbrüche bleiben erhalten. Junge Menschen lesen das auf dem Handy: kurz halten.',
    missing: 'Bitte den Text auch in dieser Sprache schreiben.',
    suggest: 'Mit einem Vorschlag beginnen',
    suggestHelp: 'Füllt beide Felder mit einem Text aus den Löschregeln dieses Teams (wie in den Datenschutzhinweisen). Vor dem Speichern prüfen und ergänzen.',
    suggested: 'Vorschlag eingefügt. Bitte prüfen, dann speichern.',
    save: 'Als neue Version speichern',
    saved: 'Gespeichert: Ab jetzt wird Version {version} gezeigt.',
    unchanged: 'Nichts geändert: Version {version} bleibt.',
    historyCaption: 'Versionen',
    colVersion: 'Version', colWhen: 'Ab', colText: 'Text',
    show: 'Version {version} anzeigen',
  },
};

export async function render(ctx, root) {
  const { t } = ctx;
  const body = el('div');
  let turn = 0; // only the latest team chosen is drawn
  const picker = teamPicker(ctx, (slug) => show(slug));
  root.append(el('p', { class: 'intro', text: t('intro') }), picker, body);
  await picker.ready;

  async function show(slug) {
    const mine = ++turn;
    body.replaceChildren();
    const path = `/api/teams/${encodeURIComponent(slug)}/consent`;
    let data;
    try {
      data = await ctx.api(path);
    } catch (err) {
      if (mine === turn) body.append(el('p', { class: 'form-status', role: 'alert', text: problem(err) }));
      return;
    }
    if (mine !== turn) return;
    const now = data.current;
    const state = el('p', { text: now ? t('current', { version: now.version, when: formatTime(now.created_at, ctx.lang) }) : t('none') });
    const status = el('p', { role: 'status', class: 'status-ok' });
    const fields = {};
    for (const lang of ['de', 'en']) {
      fields[lang] = field({ label: t(lang), help: t('textHelp'), control: 'textarea', attrs: { rows: '6', maxlength: '4000', lang } });
      fields[lang].input.value = now?.texts[lang] ?? '';
    }
    const suggest = el('button', { type: 'button', class: 'secondary', text: t('suggest') });
    suggest.addEventListener('click', async () => {
      try {
        const { texts } = await ctx.api(`${path}/suggestion`);
        for (const lang of ['de', 'en']) fields[lang].input.value = texts[lang];
        status.textContent = t('suggested');
        fields.de.input.focus();
      } catch (err) {
        status.textContent = problem(err);
      }
    });
    const form = el('form', { novalidate: true }, fields.de.wrap, fields.en.wrap,
      el('p', { class: 'buttons' }, el('button', { type: 'submit', text: t('save') }), suggest),
      el('p', { class: 'help', text: t('suggestHelp') }), status);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      for (const f of Object.values(fields)) f.clear();
      const missing = ['de', 'en'].find((lang) => !fields[lang].input.value.trim());
      if (missing) {
        fields[missing].setError(t('missing'));
        fields[missing].input.focus();
        return;
      }
      try {
        const saved = await ctx.api(path, { method: 'PUT', body: { de: fields.de.input.value, en: fields.en.input.value }, csrf: ctx.csrf });
        const text = saved.current.version === now?.version ? t('unchanged', { version: now.version }) : t('saved', { version: saved.current.version });
        await show(slug);
        body.querySelector('[role=status]').textContent = text;
        ctx.announce(text);
      } catch (err) {
        const lang = /^(de|en):/.exec(err.message ?? '')?.[1] ?? 'de';
        fields[lang].setError(problem(err));
        fields[lang].input.focus();
      }
    });
    body.append(state, form);
    if (data.history.length) {
      body.append(table(t('historyCaption'), [t('colVersion'), t('colWhen'), t('colText')], data.history.map((v) => [
        { text: String(v.version), header: true },
        formatTime(v.created_at, ctx.lang),
        el('details', {}, el('summary', { text: t('show', { version: v.version }) }), el('p', { class: 'consent-text', lang: 'de', text: v.texts.de }), el('p', { class: 'consent-text', lang: 'en', text: v.texts.en })),
      ])));
    }
  }
}
