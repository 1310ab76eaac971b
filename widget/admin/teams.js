/* Teams: create (with the team's keys made in this browser), rename, archive; the topics
 * clients choose from; the websites that may embed the widget; and the team's keys: the
 * safety number, who the signed roster names, how far the daily keys reach, and issuing
 * more. docs/admin.md, "Teams", explains it for admins. */
import { confirmAction, el, field, formatTime, problem, say, table } from './ui.js';
import { KeyProblem, keepTeam, setUpTeam, teamKeys, topUp } from './keys.js';
import { trustPin } from '/widget/shared/pins.js';

export const strings = {
  en: {
    title: 'Teams',
    intro: 'A team is one counselling service with its own queue, counsellors, keys and opening hours. Clients reach a team through the widget on the websites you allow here.',
    newTeam: 'New team',
    slug: 'Short name (for the widget and addresses)',
    slugHelp: 'Small letters, digits and dashes, e.g. youth-line. It cannot be changed later.',
    name: 'Name',
    nameHelp: 'As counsellors and admins see it, e.g. "Youth line Berlin".',
    create: 'Create team',
    creating: 'Creating the team and its keys in this browser…',
    created: 'Team {name} created. Its keys were made in this browser.',
    slugBad: 'Use 1 to 40 small letters, digits or dashes, starting with a letter or digit.',
    nameMissing: 'Please enter a name.',
    teamsCaption: 'Teams',
    colName: 'Name', colSlug: 'Short name', colState: 'State', colOpen: 'Open',
    active: 'active', archivedState: 'archived',
    open: 'Open {name}',
    none: 'There is no team yet. Create the first one above.',
    details: 'Team {name}',
    rename: 'Rename',
    renamed: 'Renamed to {name}.',
    archive: 'Archive team',
    restore: 'Restore team',
    archiveAsk: 'Archive {name}? Clients can no longer start chats with it; nothing is deleted.',
    archived: 'Team archived.',
    restored: 'Team restored.',
    topics: 'Topics',
    topicsHelp: 'Clients may choose one of these before they write. Without topics they are not asked.',
    topicSlug: 'Short name of the topic',
    topicName: 'Topic as clients see it',
    addTopic: 'Add topic',
    topicAdded: 'Topic {name} added.',
    topicRemove: 'Remove {name}',
    topicRemoveAsk: 'Remove the topic {name}? Conversations that chose it keep it.',
    topicRemoved: 'Topic removed.',
    topicsNone: 'No topics.',
    origins: 'Websites that may embed the widget',
    originsLabel: 'Websites, one per line',
    originsHelp: 'One per line, as the browser shows it: https://www.agency.example (no path). Only these sites can show this team\'s chat.',
    saveOrigins: 'Save websites',
    originsSaved: 'Websites saved.',
    keysTitle: 'Keys',
    keysIntro: 'Every chat of this team is end-to-end encrypted to keys that only its members hold. The server cannot read them, and cannot add anyone: admins sign who belongs to the team here.',
    safety: 'Safety number of the team key',
    safetyHelp: 'Compare it with the one counsellors and the widget show. If they differ, someone changed the key.',
    pin: 'Pin for the embed snippet',
    roster: 'Members (signed list, version {version})',
    covered: 'Daily keys are ready until {until} ({days} days).',
    coveredNone: 'There are no daily keys for the coming days: clients cannot start chats.',
    coveredLow: 'Daily keys run out soon. Issue new ones now.',
    issue: 'Issue daily keys for the next 14 days',
    issued: '{count} new daily keys issued and given to every member.',
    noKeys: 'This team has no keys yet (it was made on the command line). Set them up here: your browser makes them, and you become the team\'s first member.',
    setUp: 'Set up the team\'s keys',
    setUpDone: 'The team\'s keys are set up.',
    notMember: 'You are not in this team\'s signed member list, so you cannot change its members or keys. An admin of the team can add you on the Accounts page.',
    noRoot: 'The team key is not given to you. An admin of the team can give it to you by making you an admin member.',
    pinMismatch: 'Warning: the key of team {team} is not the one this device knew. Only continue if an admin of the team confirms the new safety number: {safety}',
    trust: 'The admin confirmed it: trust the new key',
    tampering: 'The keys of team {team} failed a check ({reason}). Do not use them; tell your operator.',
    roleCounsellor: 'counsellor', roleSupervisor: 'supervisor', roleAdmin: 'admin',
    colMember: 'Member', colRole: 'Role', colSince: 'Member since',
    working: 'Working…',
  },
  de: {
    title: 'Teams',
    intro: 'Ein Team ist ein Beratungsangebot mit eigener Warteschlange, eigenen Beratenden, Schlüsseln und Öffnungszeiten. Ratsuchende erreichen ein Team über das Widget auf den Websites, die hier erlaubt sind.',
    newTeam: 'Neues Team',
    slug: 'Kurzname (für das Widget und Adressen)',
    slugHelp: 'Kleinbuchstaben, Ziffern und Bindestriche, z. B. jugend-chat. Er lässt sich später nicht ändern.',
    name: 'Name',
    nameHelp: 'So sehen ihn Beratende und Admins, z. B. „Jugendberatung Berlin“.',
    create: 'Team anlegen',
    creating: 'Das Team und seine Schlüssel werden in diesem Browser angelegt …',
    created: 'Team {name} angelegt. Seine Schlüssel wurden in diesem Browser erzeugt.',
    slugBad: '1 bis 40 Kleinbuchstaben, Ziffern oder Bindestriche, am Anfang ein Buchstabe oder eine Ziffer.',
    nameMissing: 'Bitte einen Namen eingeben.',
    teamsCaption: 'Teams',
    colName: 'Name', colSlug: 'Kurzname', colState: 'Zustand', colOpen: 'Öffnen',
    active: 'aktiv', archivedState: 'archiviert',
    open: '{name} öffnen',
    none: 'Es gibt noch kein Team. Oben das erste anlegen.',
    details: 'Team {name}',
    rename: 'Umbenennen',
    renamed: 'Umbenannt in {name}.',
    archive: 'Team archivieren',
    restore: 'Team wiederherstellen',
    archiveAsk: '{name} archivieren? Ratsuchende können dann keinen Chat mehr beginnen; gelöscht wird nichts.',
    archived: 'Team archiviert.',
    restored: 'Team wiederhergestellt.',
    topics: 'Themen',
    topicsHelp: 'Ratsuchende können vor dem Schreiben eines davon wählen. Ohne Themen werden sie nicht gefragt.',
    topicSlug: 'Kurzname des Themas',
    topicName: 'Thema, wie Ratsuchende es sehen',
    addTopic: 'Thema hinzufügen',
    topicAdded: 'Thema {name} hinzugefügt.',
    topicRemove: '{name} entfernen',
    topicRemoveAsk: 'Das Thema {name} entfernen? Gespräche, die es gewählt haben, behalten es.',
    topicRemoved: 'Thema entfernt.',
    topicsNone: 'Keine Themen.',
    origins: 'Websites, die das Widget einbinden dürfen',
    originsLabel: 'Websites, eine pro Zeile',
    originsHelp: 'Eine pro Zeile, wie der Browser sie zeigt: https://www.traeger.example (ohne Pfad). Nur diese Seiten können den Chat dieses Teams zeigen.',
    saveOrigins: 'Websites speichern',
    originsSaved: 'Websites gespeichert.',
    keysTitle: 'Schlüssel',
    keysIntro: 'Jeder Chat dieses Teams ist Ende-zu-Ende verschlüsselt, mit Schlüsseln, die nur seine Mitglieder haben. Der Server kann die Chats nicht lesen und niemanden hinzufügen: Wer zum Team gehört, unterschreiben Admins hier.',
    safety: 'Sicherheitsnummer des Teamschlüssels',
    safetyHelp: 'Mit der Nummer vergleichen, die Beratende und das Widget zeigen. Weicht sie ab, hat jemand den Schlüssel geändert.',
    pin: 'Pin für das Einbettungs-Snippet',
    roster: 'Mitglieder (unterschriebene Liste, Version {version})',
    covered: 'Tagesschlüssel reichen bis {until} ({days} Tage).',
    coveredNone: 'Für die kommenden Tage gibt es keine Tagesschlüssel: Ratsuchende können keinen Chat beginnen.',
    coveredLow: 'Die Tagesschlüssel laufen bald aus. Jetzt neue ausgeben.',
    issue: 'Tagesschlüssel für die nächsten 14 Tage ausgeben',
    issued: '{count} neue Tagesschlüssel ausgegeben und allen Mitgliedern übergeben.',
    noKeys: 'Dieses Team hat noch keine Schlüssel (es wurde auf der Kommandozeile angelegt). Hier einrichten: Ihr Browser erzeugt sie, und Sie werden das erste Mitglied des Teams.',
    setUp: 'Schlüssel des Teams einrichten',
    setUpDone: 'Die Schlüssel des Teams sind eingerichtet.',
    notMember: 'Sie stehen nicht in der unterschriebenen Mitgliederliste dieses Teams und können daher weder Mitglieder noch Schlüssel ändern. Ein Admin des Teams kann Sie auf der Seite „Konten“ hinzufügen.',
    noRoot: 'Der Teamschlüssel wurde Ihnen nicht übergeben. Ein Admin des Teams kann ihn übergeben, indem er Sie als Admin-Mitglied aufnimmt.',
    pinMismatch: 'Achtung: Der Schlüssel von Team {team} ist nicht der, den dieses Gerät kannte. Nur fortfahren, wenn ein Admin des Teams die neue Sicherheitsnummer bestätigt: {safety}',
    trust: 'Der Admin hat sie bestätigt: neuem Schlüssel vertrauen',
    tampering: 'Die Schlüssel von Team {team} haben eine Prüfung nicht bestanden ({reason}). Nicht verwenden; bitte den Betrieb informieren.',
    roleCounsellor: 'Beratung', roleSupervisor: 'Supervision', roleAdmin: 'Admin',
    colMember: 'Mitglied', colRole: 'Rolle', colSince: 'Mitglied seit',
    working: 'Bitte warten …',
  },
};

const SLUG = /^[a-z0-9][a-z0-9-]{0,39}$/;
const ROLE_KEY = { counsellor: 'roleCounsellor', supervisor: 'roleSupervisor', admin: 'roleAdmin' };

export async function render(ctx, root) {
  const { t } = ctx;
  const status = el('p', { role: 'status', class: 'status-ok' });
  const detail = el('section', { 'aria-live': 'off' });
  root.append(el('p', { class: 'intro', text: t('intro') }), newTeamForm(ctx, status, detail), status, el('div', { id: 'team-list' }), detail);
  listTeams(ctx, root.querySelector('#team-list'), detail);
}

function newTeamForm(ctx, status, detail) {
  const { t } = ctx;
  const slug = field({ label: t('slug'), help: t('slugHelp'), attrs: { autocomplete: 'off', spellcheck: 'false', maxlength: '40' } });
  const name = field({ label: t('name'), help: t('nameHelp'), attrs: { autocomplete: 'off', maxlength: '200' } });
  const button = el('button', { type: 'submit', text: t('create') });
  const form = el('form', { novalidate: true }, el('h2', { text: t('newTeam') }), el('div', { class: 'fields' }, slug.wrap, name.wrap), el('p', { class: 'buttons' }, button));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    slug.clear();
    name.clear();
    const s = slug.input.value.trim();
    const n = name.input.value.trim();
    if (!SLUG.test(s)) {
      slug.setError(t('slugBad'));
      slug.input.focus();
      return;
    }
    if (!n) {
      name.setError(t('nameMissing'));
      name.input.focus();
      return;
    }
    button.disabled = true;
    say(status, t('creating'));
    try {
      await ctx.api('/api/admin/teams', { method: 'POST', body: { slug: s, name: n }, csrf: ctx.csrf });
    } catch (err) {
      (err.status === 409 || err.status === 400 ? slug : name).setError(problem(err));
      say(status, '');
      button.disabled = false;
      return;
    }
    try {
      keepTeam(ctx.keys, await setUpTeam(ctx.keys, s));
      say(status, t('created', { name: n }));
      ctx.announce(t('created', { name: n }));
      slug.input.value = '';
      name.input.value = '';
      await ctx.reloadTeams();
      ctx.me.teams = [...new Set([...(ctx.me.teams ?? []), s])];
      listTeams(ctx, document.getElementById('team-list'), detail);
      await showTeam(ctx, s, detail);
    } catch (err) {
      say(status, problem(err), false);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function listTeams(ctx, host, detail) {
  const { t } = ctx;
  if (!ctx.teams.length) {
    host.replaceChildren(el('p', { text: t('none') }));
    return;
  }
  const rows = ctx.teams.map((team) => [
    { text: team.name, header: true },
    { text: team.slug, class: 'mono' },
    team.archived ? t('archivedState') : t('active'),
    el('button', { type: 'button', class: 'secondary', text: t('open', { name: team.name }), onclick: () => showTeam(ctx, team.slug, detail) }),
  ]);
  host.replaceChildren(table(t('teamsCaption'), [t('colName'), t('colSlug'), t('colState'), t('colOpen')], rows));
}

async function showTeam(ctx, slug, host) {
  const { t } = ctx;
  const team = ctx.teams.find((x) => x.slug === slug);
  if (!team) return;
  const heading = el('h2', { text: t('details', { name: team.name }), tabindex: '-1' });
  const status = el('p', { role: 'status', class: 'status-ok' });
  host.replaceChildren(heading, status, nameForm(ctx, team, status, host), topicsSection(ctx, team, status), originsForm(ctx, team, status), el('section', { class: 'keys' }, el('h3', { text: t('keysTitle') }), el('p', { text: t('working') })));
  heading.focus();
  await keysSection(ctx, team, host.querySelector('section.keys'));
}

function nameForm(ctx, team, status, host) {
  const { t } = ctx;
  const name = field({ label: t('name'), attrs: { value: team.name, maxlength: '200', autocomplete: 'off' } });
  const archive = el('button', { type: 'button', class: team.archived ? 'secondary' : 'danger', text: team.archived ? t('restore') : t('archive') });
  const form = el('form', { novalidate: true }, el('div', { class: 'fields' }, name.wrap), el('p', { class: 'buttons' }, el('button', { type: 'submit', text: t('rename') }), archive));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    name.clear();
    const value = name.input.value.trim();
    if (!value) return name.setError(t('nameMissing'));
    try {
      await ctx.api(`/api/admin/teams/${encodeURIComponent(team.slug)}`, { method: 'PATCH', body: { name: value }, csrf: ctx.csrf });
      await ctx.reloadTeams();
      say(status, t('renamed', { name: value }));
      listTeams(ctx, document.getElementById('team-list'), host);
    } catch (err) {
      name.setError(problem(err));
    }
  });
  archive.addEventListener('click', async () => {
    const archiving = !team.archived;
    if (archiving && !(await confirmAction(ctx, t('archiveAsk', { name: team.name }), { confirm: t('archive'), danger: true }))) return;
    try {
      await ctx.api(`/api/admin/teams/${encodeURIComponent(team.slug)}`, { method: 'PATCH', body: { archived: archiving }, csrf: ctx.csrf });
      await ctx.reloadTeams();
      listTeams(ctx, document.getElementById('team-list'), host);
      await showTeam(ctx, team.slug, host);
      ctx.announce(archiving ? t('archived') : t('restored'));
    } catch (err) {
      say(status, problem(err), false);
    }
  });
  return form;
}

function topicsSection(ctx, team, status) {
  const { t } = ctx;
  const section = el('section', {}, el('h3', { text: t('topics') }), el('p', { class: 'help', text: t('topicsHelp') }));
  const list = el('ul', { class: 'list-plain' });
  const path = `/api/admin/teams/${encodeURIComponent(team.slug)}/topics`;
  const draw = () => {
    list.replaceChildren(...(team.topics.length ? team.topics.map((topic) => el('li', { class: 'buttons' },
      el('span', { text: `${topic.name} (${topic.slug})` }),
      el('button', {
        type: 'button', class: 'secondary', text: t('topicRemove', { name: topic.name }),
        onclick: async () => {
          if (!(await confirmAction(ctx, t('topicRemoveAsk', { name: topic.name }), { confirm: t('topicRemove', { name: topic.name }), danger: true }))) return;
          try {
            await ctx.api(`${path}/${encodeURIComponent(topic.slug)}`, { method: 'DELETE', csrf: ctx.csrf });
            team.topics = team.topics.filter((x) => x.slug !== topic.slug);
            draw();
            say(status, t('topicRemoved'));
          } catch (err) {
            say(status, problem(err), false);
          }
        },
      }))) : [el('li', { text: t('topicsNone') })]));
  };
  draw();
  const slug = field({ label: t('topicSlug'), help: t('slugHelp'), attrs: { autocomplete: 'off', maxlength: '40' } });
  const name = field({ label: t('topicName'), attrs: { autocomplete: 'off', maxlength: '200' } });
  const form = el('form', { novalidate: true }, el('div', { class: 'fields' }, slug.wrap, name.wrap), el('p', { class: 'buttons' }, el('button', { type: 'submit', text: t('addTopic') })));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    slug.clear();
    name.clear();
    const s = slug.input.value.trim();
    const n = name.input.value.trim();
    if (!SLUG.test(s)) return slug.setError(t('slugBad'));
    if (!n) return name.setError(t('nameMissing'));
    try {
      const topic = await ctx.api(path, { method: 'POST', body: { slug: s, name: n }, csrf: ctx.csrf });
      team.topics = [...team.topics, topic];
      slug.input.value = '';
      name.input.value = '';
      draw();
      say(status, t('topicAdded', { name: n }));
    } catch (err) {
      slug.setError(problem(err));
    }
  });
  section.append(list, form);
  return section;
}

function originsForm(ctx, team, status) {
  const { t } = ctx;
  const origins = field({ label: t('originsLabel'), help: t('originsHelp'), control: 'textarea', attrs: { rows: '4', spellcheck: 'false', autocomplete: 'off' } });
  origins.input.value = team.origins.join('\n');
  const form = el('form', { novalidate: true }, el('h3', { text: t('origins') }), origins.wrap, el('p', { class: 'buttons' }, el('button', { type: 'submit', text: t('saveOrigins') })));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    origins.clear();
    const list = origins.input.value.split('\n').map((x) => x.trim()).filter(Boolean);
    try {
      const saved = await ctx.api(`/api/admin/teams/${encodeURIComponent(team.slug)}/origins`, { method: 'PUT', body: { origins: list }, csrf: ctx.csrf });
      team.origins = saved.origins;
      origins.input.value = saved.origins.join('\n');
      say(status, t('originsSaved'));
    } catch (err) {
      origins.setError(problem(err));
      origins.input.focus();
    }
  });
  return form;
}

async function keysSection(ctx, team, host) {
  const { t } = ctx;
  const heading = el('h3', { text: t('keysTitle') });
  let keys;
  try {
    keys = await teamKeys(ctx.keys, team.slug);
  } catch (err) {
    if (err instanceof KeyProblem && err.code === 'pinMismatch') {
      const trust = el('button', { type: 'button', class: 'danger', text: t('trust') });
      trust.addEventListener('click', async () => {
        trustPin(err.team, err.pin);
        await teamKeys(ctx.keys, team.slug, true).catch(() => null);
        await keysSection(ctx, team, host);
      });
      host.replaceChildren(heading, el('p', { role: 'alert', class: 'status-bad', text: t('pinMismatch', { team: err.team, safety: err.safety }) }), el('p', {}, trust));
      return;
    }
    const reason = err instanceof KeyProblem ? err.reason : problem(err);
    host.replaceChildren(heading, el('p', { role: 'alert', class: 'status-bad', text: t('tampering', { team: team.slug, reason }) }));
    return;
  }
  const body = [heading, el('p', { class: 'intro', text: t('keysIntro') })];
  const status = el('p', { role: 'status', class: 'status-ok' });
  if (!keys.roster) {
    const setUp = el('button', { type: 'button', text: t('setUp') });
    setUp.addEventListener('click', async () => {
      setUp.disabled = true;
      say(status, t('working'));
      try {
        keepTeam(ctx.keys, await setUpTeam(ctx.keys, team.slug));
        ctx.me.teams = [...new Set([...(ctx.me.teams ?? []), team.slug])];
        await keysSection(ctx, team, host);
        ctx.announce(t('setUpDone'));
      } catch (err) {
        say(status, problem(err), false);
        setUp.disabled = false;
      }
    });
    host.replaceChildren(...body, el('p', { text: t('noKeys') }), el('p', {}, setUp), status);
    return;
  }
  body.push(
    el('p', {}, el('span', { class: 'label', text: t('safety') }), el('span', { class: 'mono safety', text: keys.safety }), el('small', { class: 'help', text: t('safetyHelp') })),
    el('p', {}, el('span', { class: 'label', text: t('pin') }), el('span', { class: 'mono pin', text: keys.pin })),
  );
  const names = await staffNames(ctx);
  body.push(table(t('roster', { version: keys.roster.version }), [t('colMember'), t('colRole'), t('colSince')], [...keys.roster.members.values()].map((m) => [
    { text: names.get(m.id) ?? m.id, header: true }, t(ROLE_KEY[m.role]), formatTime(m.since, ctx.lang),
  ])));
  const s = keys.status;
  const days = s?.covered_until ? Math.floor((s.covered_until - Date.now()) / 86_400_000) : 0;
  body.push(el('p', { class: s?.warning ? 'status-bad' : '', text: s?.covered_until ? t('covered', { until: formatTime(s.covered_until, ctx.lang), days }) + (s.warning ? ` ${t('coveredLow')}` : '') : t('coveredNone') }));
  if (!keys.member) {
    body.push(el('p', { class: 'status-bad', text: t('notMember') }));
  } else if (!keys.rPriv) {
    body.push(el('p', { class: 'status-bad', text: t('noRoot') }));
  } else {
    const issue = el('button', { type: 'button', text: t('issue') });
    issue.addEventListener('click', async () => {
      issue.disabled = true;
      say(status, t('working'));
      try {
        const fresh = await topUp(ctx.keys, keys, true);
        await keysSection(ctx, team, host);
        ctx.announce(t('issued', { count: fresh.length }));
        host.querySelector('[role=status]').textContent = t('issued', { count: fresh.length });
      } catch (err) {
        say(status, problem(err), false);
        issue.disabled = false;
      }
    });
    body.push(el('p', {}, issue));
  }
  host.replaceChildren(...body, status);
}

async function staffNames(ctx) {
  try {
    const { staff } = await ctx.api('/api/admin/staff');
    return new Map(staff.map((s) => [s.id, `${s.name} (${s.username})`]));
  } catch {
    return new Map();
  }
}
