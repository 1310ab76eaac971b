/* Accounts: invite a counsellor by a one-time link (its secret made and kept in this
 * browser), approve the enrolment that answers it (the MAC checked here, the member list
 * signed here, the team's keys given to the newcomer), add colleagues to a team or remove
 * them (new daily keys for who remains), roles, chat limits, disable, reset the second
 * factor. docs/admin.md, "Accounts", explains it for admins. */
import { confirmAction, el, field, formatTime, problem, say, table } from './ui.js';
import * as e2e from '/widget/shared/e2e-core.js';
import { KeyProblem, addMember, approve, changeRole, inviteSecret, makeInvite, removeMember, resetPassword, teamKeys } from './keys.js';

export const strings = {
  en: {
    title: 'Accounts',
    intro: 'Counsellors, supervisors and admins. A new colleague gets a one-time invitation link from you and sets up the account in their own browser: password, second factor, keys and recovery sheet. You then approve it here.',
    inviteTitle: 'Invite a colleague',
    team: 'Team', role: 'Role',
    roleHelp: 'Counsellors answer chats. Supervisors also manage canned replies, legal holds and statistics of their teams. Admins manage everything.',
    hours: 'The link is valid for (hours)',
    hoursHelp: 'Between 1 and 336 hours (two weeks).',
    hoursBad: 'Enter a whole number from 1 to 336.',
    invite: 'Make invitation link',
    inviteMade: 'Invitation made. It works once, until {until}.',
    inviteLink: 'Invitation link',
    inviteHelp: 'Hand it over in person or read it out on the phone, not by e-mail or chat: whoever has the link can create the account. Approve the account afterwards on this page, on this device: only this browser can check it.',
    copy: 'Copy link', copied: 'Link copied.',
    noRootTeams: 'You hold no team key yet. Create a team on the Teams page first.',
    pendingTitle: 'Waiting for approval',
    pendingNone: 'Nobody is waiting for approval.',
    pendingCaption: 'New accounts waiting for approval in {team}',
    colName: 'Name', colUser: 'Username', colRole: 'Role', colWhen: 'Signed up', colAction: 'Action',
    approve: 'Check and approve {name}',
    approved: '{name} is approved and has the team\'s keys.',
    otherDevice: 'Invited from another device, or by the operator (chatserver user reset-password): paste the invitation link to check and approve.',
    linkFor: 'Invitation link of {name}',
    linkMismatch: 'This is not the link of this invitation.',
    badEnrolment: 'The check failed: the account\'s keys do not belong to your invitation. Do not approve it; tell your operator. ({reason})',
    staffTitle: 'All accounts',
    staffCaption: 'Accounts',
    colTeams: 'Teams', colState: 'State', colChange: 'Change',
    disabled: 'disabled', active: 'active', no2fa: 'no second factor',
    edit: 'Change {name}',
    editTitle: 'Change {name}',
    cap: 'Chats at the same time',
    capHelp: 'From 1 to 20; empty for the server\'s default.',
    save: 'Save',
    saved: 'Saved.',
    disable: 'Disable account', enable: 'Enable account',
    disableAsk: 'Disable the account of {name}? They can no longer sign in. Their chats go back to the queue when they are removed from their teams.',
    reset2fa: 'Reset second factor',
    reset2faAsk: 'Reset the second factor of {name}? They set up a new one at their next sign-in.',
    reset2faDone: 'Second factor reset.',
    membership: 'Team membership',
    addTo: 'Add to team',
    addHelp: 'Adds {name} to the signed member list of the team and gives them its keys.',
    added: '{name} was added to {team}.',
    notVerified: '{name}\'s keys are not in a member list you hold, so this browser cannot vouch for them. Invite them to this team instead.',
    removeFrom: 'Remove from {team}',
    removeAsk: 'Remove {name} from {team}? Their open chats go back to the queue, and new daily keys are issued that they do not get.',
    removed: '{name} was removed from {team}; new daily keys were issued.',
    roleChanged: 'Role changed; the member lists of the teams you hold were signed again.',
    close: 'Close',
    roleCounsellor: 'counsellor', roleSupervisor: 'supervisor', roleAdmin: 'admin',
    working: 'Working…',
    noRoot: 'You do not hold the key of {team}.',
    removeSelf: 'You cannot remove yourself; another admin of the team can.',
    resetPw: 'Reset password',
    resetPwAsk: 'Reset the password of {name}? Their keys were locked with it and are lost: they are signed out, their open chats go back to the queue, and they set a new password and new keys through a new link, which you then approve in {team} (notes and chats stay readable by the team).',
    resetPwDone: 'Password reset. Hand over this link; it works once, until {until}. Approve the account afterwards on this page.',
    resetPwHelp: 'In person or on the phone, not by e-mail or chat.',
  },
  de: {
    title: 'Konten',
    intro: 'Beratende, Supervision und Admins. Neue Kolleg*innen bekommen von Ihnen einen einmaligen Einladungslink und richten das Konto im eigenen Browser ein: Passwort, zweiter Faktor, Schlüssel und Notfallblatt. Danach bestätigen Sie es hier.',
    inviteTitle: 'Kolleg*in einladen',
    team: 'Team', role: 'Rolle',
    roleHelp: 'Beratende beantworten Chats. Supervision verwaltet zusätzlich Textbausteine, Aufbewahrungssperren und Statistiken ihrer Teams. Admins verwalten alles.',
    hours: 'Der Link gilt (Stunden)',
    hoursHelp: 'Zwischen 1 und 336 Stunden (zwei Wochen).',
    hoursBad: 'Eine ganze Zahl von 1 bis 336 eingeben.',
    invite: 'Einladungslink erstellen',
    inviteMade: 'Einladung erstellt. Sie gilt einmal, bis {until}.',
    inviteLink: 'Einladungslink',
    inviteHelp: 'Persönlich übergeben oder am Telefon vorlesen, nicht per E-Mail oder Chat: Wer den Link hat, kann das Konto anlegen. Das Konto danach auf dieser Seite und auf diesem Gerät bestätigen: Nur dieser Browser kann es prüfen.',
    copy: 'Link kopieren', copied: 'Link kopiert.',
    noRootTeams: 'Sie haben noch keinen Teamschlüssel. Zuerst auf der Seite „Teams“ ein Team anlegen.',
    pendingTitle: 'Warten auf Bestätigung',
    pendingNone: 'Niemand wartet auf Bestätigung.',
    pendingCaption: 'Neue Konten in {team}, die auf Bestätigung warten',
    colName: 'Name', colUser: 'Benutzername', colRole: 'Rolle', colWhen: 'Angemeldet', colAction: 'Aktion',
    approve: '{name} prüfen und bestätigen',
    approved: '{name} ist bestätigt und hat die Schlüssel des Teams.',
    otherDevice: 'Von einem anderen Gerät oder vom Betrieb (chatserver user reset-password) eingeladen: den Einladungslink einfügen, um zu prüfen und zu bestätigen.',
    linkFor: 'Einladungslink von {name}',
    linkMismatch: 'Das ist nicht der Link dieser Einladung.',
    badEnrolment: 'Die Prüfung ist fehlgeschlagen: Die Schlüssel des Kontos gehören nicht zu Ihrer Einladung. Nicht bestätigen; bitte den Betrieb informieren. ({reason})',
    staffTitle: 'Alle Konten',
    staffCaption: 'Konten',
    colTeams: 'Teams', colState: 'Zustand', colChange: 'Ändern',
    disabled: 'gesperrt', active: 'aktiv', no2fa: 'kein zweiter Faktor',
    edit: '{name} ändern',
    editTitle: '{name} ändern',
    cap: 'Chats gleichzeitig',
    capHelp: 'Von 1 bis 20; leer für den Standard des Servers.',
    save: 'Speichern',
    saved: 'Gespeichert.',
    disable: 'Konto sperren', enable: 'Konto entsperren',
    disableAsk: 'Das Konto von {name} sperren? Die Anmeldung ist dann nicht mehr möglich. Offene Chats gehen zurück in die Warteschlange, sobald die Person aus ihren Teams entfernt ist.',
    reset2fa: 'Zweiten Faktor zurücksetzen',
    reset2faAsk: 'Den zweiten Faktor von {name} zurücksetzen? Bei der nächsten Anmeldung wird ein neuer eingerichtet.',
    reset2faDone: 'Zweiter Faktor zurückgesetzt.',
    membership: 'Teammitgliedschaft',
    addTo: 'Zum Team hinzufügen',
    addHelp: 'Nimmt {name} in die unterschriebene Mitgliederliste des Teams auf und übergibt die Schlüssel.',
    added: '{name} wurde zu {team} hinzugefügt.',
    notVerified: 'Die Schlüssel von {name} stehen in keiner Mitgliederliste, die Sie haben; dieser Browser kann sie nicht bestätigen. Bitte stattdessen in dieses Team einladen.',
    removeFrom: 'Aus {team} entfernen',
    removeAsk: '{name} aus {team} entfernen? Offene Chats gehen zurück in die Warteschlange, und es werden neue Tagesschlüssel ausgegeben, die die Person nicht bekommt.',
    removed: '{name} wurde aus {team} entfernt; neue Tagesschlüssel sind ausgegeben.',
    roleChanged: 'Rolle geändert; die Mitgliederlisten Ihrer Teams wurden neu unterschrieben.',
    close: 'Schließen',
    roleCounsellor: 'Beratung', roleSupervisor: 'Supervision', roleAdmin: 'Admin',
    working: 'Bitte warten …',
    noRoot: 'Sie haben den Schlüssel von {team} nicht.',
    removeSelf: 'Sie können sich nicht selbst entfernen; ein anderer Admin des Teams kann es.',
    resetPw: 'Passwort zurücksetzen',
    resetPwAsk: 'Das Passwort von {name} zurücksetzen? Die Schlüssel der Person waren damit verschlossen und sind verloren: Sie wird abgemeldet, offene Chats gehen zurück in die Warteschlange, und sie vergibt über einen neuen Link ein neues Passwort und neue Schlüssel, die Sie dann in {team} bestätigen (Notizen und Chats bleiben für das Team lesbar).',
    resetPwDone: 'Passwort zurückgesetzt. Diesen Link übergeben; er gilt einmal, bis {until}. Das Konto danach auf dieser Seite bestätigen.',
    resetPwHelp: 'Persönlich oder am Telefon, nicht per E-Mail oder Chat.',
  },
};

const ROLES = ['counsellor', 'supervisor', 'admin'];
const ROLE_KEY = { counsellor: 'roleCounsellor', supervisor: 'roleSupervisor', admin: 'roleAdmin' };
const enc = encodeURIComponent;

function keyText(ctx, err, vars = {}) {
  if (err instanceof KeyProblem && ctx.t(err.code) !== err.code) return ctx.t(err.code, { ...vars, reason: err.reason ?? '' });
  return problem(err);
}

/** The teams whose root key this admin holds (only those can take members). */
async function heldTeams(ctx) {
  const held = [];
  for (const team of ctx.teams.filter((x) => !x.archived)) {
    try {
      const keys = await teamKeys(ctx.keys, team.slug);
      if (keys.rPriv) held.push({ team, keys });
    } catch {
      // a team whose keys fail a check is shown on the Teams page
    }
  }
  return held;
}

export async function render(ctx, root) {
  const { t } = ctx;
  const status = el('p', { role: 'status', class: 'status-ok' });
  const held = await heldTeams(ctx);
  const pending = el('section');
  const accounts = el('section');
  root.append(el('p', { class: 'intro', text: t('intro') }), status, inviteForm(ctx, held), pending, accounts);
  await drawPending(ctx, held, pending, accounts);
  await drawAccounts(ctx, held, accounts);
}

function inviteForm(ctx, held) {
  const { t } = ctx;
  const section = el('section', {}, el('h2', { text: t('inviteTitle') }));
  if (!held.length) {
    section.append(el('p', { text: t('noRootTeams') }));
    return section;
  }
  const team = field({ label: t('team'), control: 'select', options: held.map((h) => [h.team.slug, h.team.name]) });
  const role = field({ label: t('role'), help: t('roleHelp'), control: 'select', options: ROLES.map((r) => [r, t(ROLE_KEY[r])]) });
  const hours = field({ label: t('hours'), help: t('hoursHelp'), attrs: { type: 'number', min: '1', max: '336', value: '72', inputmode: 'numeric' } });
  const result = el('div');
  const form = el('form', { novalidate: true }, el('div', { class: 'fields' }, team.wrap, role.wrap, hours.wrap), el('p', { class: 'buttons' }, el('button', { type: 'submit', text: t('invite') })), result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    hours.clear();
    const h = Number(hours.input.value);
    if (!Number.isInteger(h) || h < 1 || h > 336) {
      hours.setError(t('hoursBad'));
      hours.input.focus();
      return;
    }
    const chosen = held.find((x) => x.team.slug === team.input.value);
    try {
      const made = await makeInvite(ctx.keys, chosen.keys, role.input.value, h);
      const link = field({ label: t('inviteLink'), help: t('inviteHelp'), control: 'textarea', attrs: { readonly: true, rows: '3', class: 'mono invite-link', spellcheck: 'false' } });
      link.input.value = made.link;
      const copied = el('span', { role: 'status', class: 'status-ok' });
      const copy = el('button', { type: 'button', class: 'secondary', text: t('copy') });
      copy.addEventListener('click', async () => {
        link.input.select();
        try {
          await navigator.clipboard.writeText(made.link);
        } catch {
          document.execCommand('copy');
        }
        copied.textContent = t('copied');
      });
      result.replaceChildren(el('p', { class: 'status-ok', text: t('inviteMade', { until: formatTime(made.expires, ctx.lang) }) }), link.wrap, el('p', { class: 'buttons' }, copy, copied));
      link.input.focus();
      ctx.announce(t('inviteMade', { until: formatTime(made.expires, ctx.lang) }));
    } catch (err) {
      role.setError(problem(err));
    }
  });
  section.append(form);
  return section;
}

async function drawPending(ctx, held, host, accounts) {
  const { t } = ctx;
  const parts = [el('h2', { text: t('pendingTitle') })];
  const status = el('p', { role: 'status', class: 'status-ok' });
  let any = false;
  for (const { team, keys } of held) {
    const list = await ctx.api(`/api/teams/${enc(team.slug)}/enrolments`);
    if (!list.length) continue;
    any = true;
    const rows = [];
    for (const p of list) {
      const mine = await inviteSecret(ctx.keys, p.invite);
      const button = el('button', { type: 'button', text: t('approve', { name: p.name }) });
      let action = button;
      // Made elsewhere (another device of an admin, or the operator's CLI): the secret
      // comes from the link, handed over off the server like the invitation itself.
      const pasted = mine ? null : field({ label: t('linkFor', { name: p.name }), help: t('otherDevice'), attrs: { autocomplete: 'off', spellcheck: 'false', class: 'mono' } });
      if (pasted) action = el('div', {}, pasted.wrap, el('p', { class: 'buttons' }, button));
      button.addEventListener('click', async () => {
        let secret = mine;
        if (!secret) {
          pasted.clear();
          secret = secretOfLink(pasted.input.value, p.invite);
          if (!secret) {
            pasted.setError(t('linkMismatch'));
            pasted.input.focus();
            return;
          }
        }
        button.disabled = true;
        say(status, t('working'));
        try {
          const member = await approve(ctx.keys, keys, p, secret);
          // A renewed account (password reset): its new keys replace the old ones in
          // the other teams this admin holds.
          for (const other of held) {
            const named = other.keys.roster?.members.get(member.id);
            if (other !== held.find((h) => h.keys === keys) && named && !e2e.equalBytes(named.dhPub, member.dhPub)) {
              await addMember(ctx.keys, other.keys, { ...member, role: named.role });
            }
          }
          say(status, t('approved', { name: p.name }));
          ctx.announce(t('approved', { name: p.name }));
          await drawPending(ctx, held, host, accounts);
          host.querySelector('[role=status]').textContent = t('approved', { name: p.name });
          await drawAccounts(ctx, held, accounts);
        } catch (err) {
          say(status, keyText(ctx, err), false);
          button.disabled = false;
        }
      });
      rows.push([{ text: p.name, header: true }, p.username, t(ROLE_KEY[p.role]), formatTime(p.enrolled_at, ctx.lang), action]);
    }
    parts.push(table(t('pendingCaption', { team: team.name }), [t('colName'), t('colUser'), t('colRole'), t('colWhen'), t('colAction')], rows));
  }
  if (!any) parts.push(el('p', { text: t('pendingNone') }));
  host.replaceChildren(...parts, status);
}

/**
 * The 32-byte secret of an invitation link (`…/console#invite=ID&secret=S&pin=P`) when the
 * link is that of `invite`, else null.
 */
function secretOfLink(text, invite) {
  try {
    const link = new URLSearchParams(new URL(text.trim()).hash.slice(1));
    if (link.get('invite') !== invite) return null;
    const secret = e2e.b64decode(link.get('secret').replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(link.get('secret').length / 4) * 4, '='));
    return secret.length === 32 ? secret : null;
  } catch {
    return null;
  }
}

/** A colleague's keys as a roster this device checked names them (never the server's word). */
function verifiedKeys(held, staffId) {
  for (const { keys } of held) {
    const member = keys.roster?.members.get(staffId);
    if (member) return member;
  }
  return null;
}

async function drawAccounts(ctx, held, host) {
  const { t } = ctx;
  const { staff } = await ctx.api('/api/admin/staff');
  const editor = el('div');
  const rows = staff.map((s) => {
    const state = [s.disabled ? t('disabled') : t('active'), s.totp ? null : t('no2fa')].filter(Boolean).join(', ');
    const edit = el('button', { type: 'button', class: 'secondary', text: t('edit', { name: s.name }), onclick: () => editAccount(ctx, held, s, editor, host) });
    return [{ text: s.name, header: true }, s.username, t(ROLE_KEY[s.role]), s.teams.join(', '), state, edit];
  });
  host.replaceChildren(el('h2', { text: t('staffTitle') }), table(t('staffCaption'), [t('colName'), t('colUser'), t('colRole'), t('colTeams'), t('colState'), t('colChange')], rows), editor);
}

function editAccount(ctx, held, s, host, accounts) {
  const { t } = ctx;
  const headingId = `edit-${s.id}`;
  const heading = el('h3', { id: headingId, text: t('editTitle', { name: s.name }), tabindex: '-1' });
  const status = el('p', { role: 'status', class: 'status-ok' });
  const role = field({ label: t('role'), help: t('roleHelp'), control: 'select', options: ROLES.map((r) => [r, t(ROLE_KEY[r])]) });
  role.input.value = s.role;
  const cap = field({ label: t('cap'), help: t('capHelp'), attrs: { type: 'number', min: '1', max: '20', inputmode: 'numeric', value: s.cap ?? '' } });
  const form = el('form', { novalidate: true }, el('div', { class: 'fields' }, role.wrap, cap.wrap), el('p', { class: 'buttons' }, el('button', { type: 'submit', text: t('save') })));
  const refresh = async () => {
    const { staff } = await ctx.api('/api/admin/staff');
    const fresh = staff.find((x) => x.id === s.id) ?? s;
    await drawAccounts(ctx, held, accounts);
    editAccount(ctx, held, fresh, accounts.querySelector('div:last-child') ?? host, accounts);
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    role.clear();
    cap.clear();
    const body = {};
    if (role.input.value !== s.role) body.role = role.input.value;
    const capValue = cap.input.value.trim() === '' ? null : Number(cap.input.value);
    if (capValue !== (s.cap ?? null)) body.cap = capValue;
    if (!Object.keys(body).length) return say(status, t('saved'));
    try {
      await ctx.api(`/api/admin/staff/${enc(s.id)}`, { method: 'PATCH', body, csrf: ctx.csrf });
      if (body.role) {
        for (const h of held) if (h.keys.roster.members.has(s.id)) await changeRole(ctx.keys, h.keys, s.id, body.role);
      }
      await refresh();
      ctx.announce(body.role ? t('roleChanged') : t('saved'));
    } catch (err) {
      (body.cap !== undefined && err.message?.includes('cap') ? cap : role).setError(keyText(ctx, err));
    }
  });
  const disable = el('button', { type: 'button', class: s.disabled ? 'secondary' : 'danger', text: s.disabled ? t('enable') : t('disable') });
  disable.addEventListener('click', async () => {
    if (!s.disabled && !(await confirmAction(ctx, t('disableAsk', { name: s.name }), { confirm: t('disable'), danger: true }))) return;
    try {
      await ctx.api(`/api/admin/staff/${enc(s.id)}`, { method: 'PATCH', body: { disabled: !s.disabled }, csrf: ctx.csrf });
      await refresh();
      ctx.announce(t('saved'));
    } catch (err) {
      say(status, problem(err), false);
    }
  });
  const reset = el('button', { type: 'button', class: 'secondary', text: t('reset2fa') });
  reset.addEventListener('click', async () => {
    if (!(await confirmAction(ctx, t('reset2faAsk', { name: s.name }), { confirm: t('reset2fa'), danger: true }))) return;
    try {
      await ctx.api(`/api/admin/staff/${enc(s.id)}/reset-2fa`, { method: 'POST', body: {}, csrf: ctx.csrf });
      say(status, t('reset2faDone'));
      ctx.announce(t('reset2faDone'));
    } catch (err) {
      say(status, problem(err), false);
    }
  });
  const resetPw = el('button', { type: 'button', class: 'danger', text: t('resetPw') });
  const resetOut = el('div');
  resetPw.addEventListener('click', async () => {
    const home = held.find((h) => h.keys.roster.members.has(s.id)) ?? held[0];
    if (!home) return say(status, t('noRootTeams'), false);
    if (!(await confirmAction(ctx, t('resetPwAsk', { name: s.name, team: home.team.name }), { confirm: t('resetPw'), danger: true }))) return;
    try {
      const made = await resetPassword(ctx.keys, home.keys, s.id, 72);
      const link = field({ label: t('inviteLink'), help: t('resetPwHelp'), control: 'textarea', attrs: { readonly: true, rows: '3', class: 'mono invite-link', spellcheck: 'false' } });
      link.input.value = made.link;
      resetOut.replaceChildren(el('p', { class: 'status-ok', text: t('resetPwDone', { until: formatTime(made.expires, ctx.lang) }) }), link.wrap);
      link.input.focus();
      ctx.announce(t('resetPwDone', { until: formatTime(made.expires, ctx.lang) }));
    } catch (err) {
      say(status, problem(err), false);
    }
  });
  const member = el('section', {}, el('h4', { text: t('membership') }));
  const list = el('ul', { class: 'list-plain' });
  for (const { team, keys } of held) {
    if (!keys.roster.members.has(s.id)) continue;
    const remove = el('button', { type: 'button', class: 'danger', text: t('removeFrom', { team: team.name }) });
    remove.addEventListener('click', async () => {
      if (!(await confirmAction(ctx, t('removeAsk', { name: s.name, team: team.name }), { confirm: t('removeFrom', { team: team.name }), danger: true }))) return;
      say(status, t('working'));
      try {
        await removeMember(ctx.keys, keys, s.id);
        await refresh();
        ctx.announce(t('removed', { name: s.name, team: team.name }));
      } catch (err) {
        say(status, keyText(ctx, err, { team: team.name }), false);
      }
    });
    list.append(el('li', { class: 'buttons' }, el('span', { text: team.name }), remove));
  }
  member.append(list);
  const others = held.filter((h) => !h.keys.roster.members.has(s.id));
  if (others.length && !s.disabled) {
    const target = field({ label: t('addTo'), help: t('addHelp', { name: s.name }), control: 'select', options: others.map((h) => [h.team.slug, h.team.name]) });
    const add = el('form', { novalidate: true }, target.wrap, el('p', { class: 'buttons' }, el('button', { type: 'submit', text: t('addTo') })));
    add.addEventListener('submit', async (event) => {
      event.preventDefault();
      target.clear();
      const chosen = others.find((h) => h.team.slug === target.input.value);
      const known = verifiedKeys(held, s.id);
      if (!known) return target.setError(t('notVerified', { name: s.name }));
      say(status, t('working'));
      try {
        await addMember(ctx.keys, chosen.keys, { ...known, role: s.role });
        await refresh();
        ctx.announce(t('added', { name: s.name, team: chosen.team.name }));
      } catch (err) {
        target.setError(keyText(ctx, err, { team: chosen.team.name }));
      }
    });
    member.append(add);
  }
  const close = el('button', { type: 'button', class: 'secondary', text: t('close'), onclick: () => host.replaceChildren() });
  host.replaceChildren(el('section', { class: 'card-inline', 'aria-labelledby': headingId }, heading, status, form, el('p', { class: 'buttons' }, disable, reset, resetPw), resetOut, member, el('p', {}, close)));
  heading.focus();
}
