/* Retention rules of a team (docs/retention.md): each category's duration with the
 * operator's range, edited, previewed (what would be deleted now and within 7 days) and
 * only then saved. GET/PUT /api/teams/SLUG/retention, POST …/retention/preview. */
import { el, field, problem, table, teamPicker, uid } from './ui.js';

export const strings = {
  en: {
    title: 'Retention rules',
    intro: 'How long this team\'s records are kept. Each rule counts from an event, for example "48 hours after the conversation ended". Past that time the record is never shown again and the next sweep deletes it. Change a rule, look at the preview of what it would delete, then save.',
    cat_messages: 'Messages and notes',
    cat_abandoned: 'Conversations nobody accepted',
    cat_idle_close: 'Closing idle conversations',
    cat_metadata: 'Conversation records',
    cat_epoch_keys: 'Old team keys',
    cat_audit: 'Audit log entries',
    cat_staff: 'Deactivated staff accounts',
    cat_invites: 'Expired invitations',
    cat_sessions: 'Expired sign-in sessions',
    cat_blocks: 'Expired blocks',
    help_messages: 'The encrypted messages, internal and handover notes, and the conversation\'s key; counted from the end of the conversation.',
    help_abandoned: 'The whole conversation, when no counsellor ever accepted it; counted from the client\'s last activity.',
    help_idle_close: 'Deletes nothing: an open conversation with no activity for this long is closed, and the rules above then apply.',
    help_metadata: 'The conversation\'s record without content (times, team, topic, close category, who handled it); counted from the end. Never shorter than messages.',
    help_epoch_keys: 'The sealed copies of a team key that is no longer in use; counted from the end of its period.',
    help_audit: 'Entries of the audit log; counted from when they were written.',
    help_staff: 'A staff account and its keys; counted from when it was deactivated.',
    help_invites: 'An invitation link\'s record; counted from when it expired.',
    help_sessions: 'The record of a sign-in; counted from when it expired.',
    help_blocks: 'The record of a block (never an address); counted from when it expired.',
    inForce: 'In force: {duration} ({source}).',
    source_team: 'this team\'s rule',
    source_default: 'the default',
    range: 'Allowed: from {min} to {max}. Default: {default}.',
    rangeMin: 'Allowed: at least {min}. Default: {default}.',
    rangeAny: 'Default: {default}.',
    noLimit: 'no limit',
    keep: 'Keep for',
    keepHelp: 'A number and a unit: 30m (minutes), 48h (hours) or 90d (days).',
    useDefault: 'Use the default ({default}) again',
    badDuration: 'Write a number and a unit: 30m, 48h or 90d.',
    tooShort: 'At least {min}.',
    tooLong: 'At most {max}.',
    noChange: 'Nothing is changed yet: edit a duration first.',
    preview: 'Preview the change',
    previewTitle: 'What the change would delete',
    previewIntro: 'Counts of records of this team that would be deleted: now (already past due) and within the next 7 days, under the rules in force and under the changed rules.',
    previewCaption: 'Records deleted, per category',
    category: 'Category',
    operatorWide: 'Set by the operator for the whole installation (these records belong to no team).',
    ruleNow: 'Rule now',
    delNow: 'Deleted now',
    delSoon: 'Within 7 days',
    ruleNew: 'New rule',
    delNowNew: 'Deleted now (new)',
    delSoonNew: 'Within 7 days (new)',
    previewStale: 'A duration was edited after the preview: preview again before saving.',
    save: 'Save the change',
    saved: 'Saved. The new rules apply now.',
    previewReady: 'Preview ready. Check the counts, then save.',
    fix: 'Please correct the marked field.',
  },
  de: {
    title: 'Löschfristen',
    intro: 'Wie lange die Daten dieses Teams aufbewahrt werden. Jede Frist zählt ab einem Ereignis, zum Beispiel „48 Stunden nach Gesprächsende“. Danach wird der Eintrag nie wieder angezeigt, und der nächste Löschlauf entfernt ihn. Frist ändern, in der Vorschau prüfen, was gelöscht würde, dann speichern.',
    cat_messages: 'Nachrichten und Notizen',
    cat_abandoned: 'Nicht angenommene Gespräche',
    cat_idle_close: 'Ruhende Gespräche schließen',
    cat_metadata: 'Gesprächsdaten ohne Inhalt',
    cat_epoch_keys: 'Alte Teamschlüssel',
    cat_audit: 'Protokolleinträge',
    cat_staff: 'Deaktivierte Konten',
    cat_invites: 'Abgelaufene Einladungen',
    cat_sessions: 'Abgelaufene Anmeldesitzungen',
    cat_blocks: 'Abgelaufene Sperren',
    help_messages: 'Die verschlüsselten Nachrichten, internen Notizen und Übergabenotizen sowie der Schlüssel des Gesprächs; ab Gesprächsende.',
    help_abandoned: 'Das ganze Gespräch, wenn es nie angenommen wurde; ab der letzten Aktivität der ratsuchenden Person.',
    help_idle_close: 'Löscht nichts: Ein offenes Gespräch ohne Aktivität wird nach dieser Zeit geschlossen, dann gelten die Fristen oben.',
    help_metadata: 'Der Eintrag des Gesprächs ohne Inhalt (Zeiten, Team, Thema, Abschlusskategorie, wer es geführt hat); ab Gesprächsende. Nie kürzer als die Nachrichten.',
    help_epoch_keys: 'Die versiegelten Kopien eines nicht mehr verwendeten Teamschlüssels; ab dem Ende seines Zeitraums.',
    help_audit: 'Einträge im Protokoll; ab dem Zeitpunkt des Eintrags.',
    help_staff: 'Ein Konto und seine Schlüssel; ab der Deaktivierung.',
    help_invites: 'Der Eintrag eines Einladungslinks; ab seinem Ablauf.',
    help_sessions: 'Der Eintrag einer Anmeldung; ab ihrem Ablauf.',
    help_blocks: 'Der Eintrag einer Sperre (nie eine Adresse); ab ihrem Ablauf.',
    inForce: 'Gilt jetzt: {duration} ({source}).',
    source_team: 'Frist dieses Teams',
    source_default: 'Standard',
    range: 'Erlaubt: von {min} bis {max}. Standard: {default}.',
    rangeMin: 'Erlaubt: mindestens {min}. Standard: {default}.',
    rangeAny: 'Standard: {default}.',
    noLimit: 'ohne Grenze',
    keep: 'Aufbewahren für',
    keepHelp: 'Eine Zahl und eine Einheit: 30m (Minuten), 48h (Stunden) oder 90d (Tage).',
    useDefault: 'Wieder den Standard ({default}) verwenden',
    badDuration: 'Eine Zahl und eine Einheit angeben: 30m, 48h oder 90d.',
    tooShort: 'Mindestens {min}.',
    tooLong: 'Höchstens {max}.',
    noChange: 'Noch nichts geändert: zuerst eine Frist bearbeiten.',
    preview: 'Änderung in der Vorschau zeigen',
    previewTitle: 'Was die Änderung löschen würde',
    previewIntro: 'Anzahl der Einträge dieses Teams, die gelöscht würden: jetzt (bereits fällig) und in den nächsten 7 Tagen, nach den geltenden und nach den geänderten Fristen.',
    previewCaption: 'Gelöschte Einträge je Kategorie',
    category: 'Kategorie',
    operatorWide: 'Vom Betrieb für die ganze Installation festgelegt (diese Daten gehören zu keinem Team).',
    ruleNow: 'Frist jetzt',
    delNow: 'Jetzt gelöscht',
    delSoon: 'In 7 Tagen',
    ruleNew: 'Neue Frist',
    delNowNew: 'Jetzt gelöscht (neu)',
    delSoonNew: 'In 7 Tagen (neu)',
    previewStale: 'Nach der Vorschau wurde eine Frist bearbeitet: Vor dem Speichern bitte erneut die Vorschau zeigen.',
    save: 'Änderung speichern',
    saved: 'Gespeichert. Die neuen Fristen gelten ab jetzt.',
    previewReady: 'Vorschau bereit. Zahlen prüfen, dann speichern.',
    fix: 'Bitte das markierte Feld korrigieren.',
  },
};

const DURATION = /^\s*(\d{1,7})\s*([mhd])\s*$/;
const UNIT = { m: 1, h: 60, d: 1440 };

function minutes(text) {
  const match = DURATION.exec(text ?? '');
  return match ? Number(match[1]) * UNIT[match[2]] : null;
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
      data = await ctx.api(`/api/teams/${encodeURIComponent(slug)}/retention`);
    } catch (err) {
      if (mine !== turn) return;
      body.append(el('p', { class: 'form-status', role: 'alert', text: problem(err) }));
      return;
    }
    if (mine !== turn) return;
    const rules = new Map(data.rules.map((r) => [r.category, r]));
    const fields = new Map(); // category -> {field, reset}
    const form = el('form', { novalidate: true });
    const grid = el('div', { class: 'rules' });
    form.append(grid);
    for (const rule of data.rules) {
      const name = rule.category;
      const own = rule.team_rule !== false; // operator-wide categories are shown, not set here
      const f = field({ label: t('keep'), help: own ? t('keepHelp') : t('operatorWide'), attrs: { value: rule.duration, name, autocomplete: 'off', spellcheck: 'false', inputmode: 'text', size: 8, readonly: !own } });
      const reset = own && rule.source === 'team'
        ? el('input', { type: 'checkbox', id: uid('reset') })
        : null;
      let rangeText = t('rangeAny', { default: rule.default });
      if (rule.max) rangeText = t('range', { min: rule.min ?? '0m', max: rule.max, default: rule.default });
      else if (rule.min) rangeText = t('rangeMin', { min: rule.min, default: rule.default });
      const legendId = uid('legend');
      grid.append(el('fieldset', { 'data-category': name, 'aria-describedby': `${legendId}-help` },
        el('legend', { id: legendId, text: t(`cat_${name}`) }),
        el('p', { class: 'help', id: `${legendId}-help`, text: t(`help_${name}`) }),
        el('p', { class: 'help', text: `${t('inForce', { duration: rule.duration, source: t(`source_${rule.source}`) })} ${rangeText}` }),
        f.wrap,
        reset ? el('p', {}, el('label', { class: 'inline', for: reset.id }, reset, t('useDefault', { default: rule.default }))) : null));
      fields.set(name, { f, reset });
    }
    const status = el('p', { class: 'form-status', role: 'alert' });
    const previewButton = el('button', { type: 'submit', text: t('preview') });
    const saveButton = el('button', { type: 'button', text: t('save'), hidden: true });
    const previewBox = el('section', { 'aria-labelledby': 'ret-preview-h', hidden: true });
    form.append(el('p', { class: 'buttons' }, previewButton), status);
    body.append(form, previewBox, el('p', { class: 'buttons' }, saveButton));

    let previewed = null; // the changes the preview showed

    function changes() {
      const out = {};
      let bad = null;
      for (const [name, { f, reset }] of fields) {
        f.clear();
        const rule = rules.get(name);
        if (reset?.checked) {
          out[name] = null;
          continue;
        }
        const value = f.input.value.trim();
        const m = minutes(value);
        if (m === null) {
          f.setError(t('badDuration'));
          bad ??= f;
          continue;
        }
        const low = minutes(rule.min ?? '0m');
        const high = rule.max ? minutes(rule.max) : null;
        if (m < low) {
          f.setError(t('tooShort', { min: rule.min }));
          bad ??= f;
        } else if (high !== null && m > high) {
          f.setError(t('tooLong', { max: rule.max }));
          bad ??= f;
        } else if (m !== rule.minutes) {
          out[name] = value.replace(/\s+/g, '');
        }
      }
      return { out, bad };
    }

    /** The server's refusal at the field it is about (it names the category). */
    function refusal(err, changed) {
      const message = problem(err);
      const name = [...fields.keys()].find((n) => message.includes(n)) ?? Object.keys(changed)[0];
      const target = fields.get(name)?.f;
      if (target) {
        target.setError(message);
        target.input.focus();
        status.textContent = t('fix');
      } else {
        status.textContent = message;
      }
    }

    function stale() {
      if (previewed === null) return;
      previewed = null;
      saveButton.hidden = true;
      status.textContent = t('previewStale');
    }
    form.addEventListener('input', stale);
    form.addEventListener('change', stale);

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      status.textContent = '';
      const { out, bad } = changes();
      if (bad) {
        status.textContent = t('fix');
        bad.input.focus();
        return;
      }
      if (!Object.keys(out).length) {
        status.textContent = t('noChange');
        return;
      }
      previewButton.disabled = true;
      try {
        const result = await ctx.api(`/api/teams/${encodeURIComponent(slug)}/retention/preview`, { method: 'POST', body: { changes: out, days: 7 }, csrf: ctx.csrf });
        previewBox.replaceChildren(
          el('h2', { id: 'ret-preview-h', text: t('previewTitle') }),
          el('p', { class: 'help', text: t('previewIntro') }),
          table(t('previewCaption'), [t('category'), t('ruleNow'), { text: t('delNow'), class: 'num' }, { text: t('delSoon'), class: 'num' }, t('ruleNew'), { text: t('delNowNew'), class: 'num' }, { text: t('delSoonNew'), class: 'num' }],
            result.rows.map((r) => {
              const changed = r.category in out;
              const mark = (text, num = true) => ({ text: String(text), class: `${num ? 'num' : ''}${changed ? ' changed' : ''}` });
              return [{ text: t(`cat_${r.category}`), header: true }, r.rule, mark(r.now), mark(r.soon), mark(r.proposed_rule, false), mark(r.proposed_now), mark(r.proposed_soon)];
            })),
        );
        previewBox.hidden = false;
        previewed = out;
        saveButton.hidden = false;
        ctx.announce(t('previewReady'));
      } catch (err) {
        refusal(err, out);
      } finally {
        previewButton.disabled = false;
      }
    });

    saveButton.addEventListener('click', async () => {
      if (previewed === null) return;
      saveButton.disabled = true;
      try {
        await ctx.api(`/api/teams/${encodeURIComponent(slug)}/retention`, { method: 'PUT', body: previewed, csrf: ctx.csrf });
        await show(slug);
        ctx.announce(t('saved'));
        body.prepend(el('p', { class: 'status-ok', text: t('saved') }));
      } catch (err) {
        refusal(err, previewed);
        saveButton.disabled = false;
      }
    });
  }
}
