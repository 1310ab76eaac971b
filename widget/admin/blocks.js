/* Blocks (docs/admin.md, "Blocks"): the clients a team's counsellors blocked from the duty
 * console for abuse, while the block is in force: when, until when, by whom and the chat
 * it ended. A block knows no address, only that chat. "Lift block" ends one now, after a
 * confirmation; the server audits it. GET /api/teams/SLUG/blocks, DELETE /api/blocks/ID. */
import { confirmAction, el, formatTime, problem, table, teamPicker } from './ui.js';

export const strings = {
  en: {
    title: 'Blocks',
    intro: 'When a counsellor blocks a client in the duty console (for abuse), the chat ends and that browser tab cannot open it again until the block ends. These are the team\'s blocks in force. No address or device fingerprint is kept: a block only knows the chat it ended. Lifting a block ends it now, and the lift is written to the audit log.',
    listTitle: 'Blocks in force',
    caption: 'Blocks in force, newest first',
    none: 'No client of this team is blocked right now.',
    since: 'Blocked on',
    until: 'Until',
    by: 'Blocked by',
    conversation: 'Conversation',
    action: 'Action',
    formerAccount: 'an account that no longer exists',
    noConversation: 'no longer stored',
    lift: 'Lift block',
    liftLabelConversation: 'Lift block on conversation {id}',
    liftLabelSince: 'Lift block from {since}',
    confirmConversation: 'Lift the block on conversation {id} now? The client can then open this chat again on their device (it stays ended) and delete it.',
    confirmSince: 'Lift the block from {since} now? The client can then open the chat again on their device (it stays ended) and delete it.',
    lifted: 'The block is lifted.',
    gone: 'This block has ended already or a colleague lifted it.',
    notYours: 'Only admins and this team\'s supervisors can lift this block.',
    loadFailed: 'The blocks could not be loaded: {reason}',
    liftFailed: 'The block could not be lifted: {reason}',
  },
  de: {
    title: 'Chat-Sperren',
    intro: 'Wird in der Dienstkonsole jemand wegen Missbrauchs gesperrt, endet der Chat, und dieser Browser-Tab kann ihn nicht wieder öffnen, bis die Sperre endet. Hier stehen die geltenden Sperren des Teams. Keine Adresse und kein Gerätemerkmal wird gespeichert: Eine Sperre kennt nur den Chat, den sie beendet hat. Das Aufheben beendet eine Sperre sofort und steht im Protokoll.',
    listTitle: 'Geltende Sperren',
    caption: 'Geltende Sperren, neueste zuerst',
    none: 'Zurzeit ist niemand in diesem Team gesperrt.',
    since: 'Gesperrt am',
    until: 'Bis',
    by: 'Gesperrt von',
    conversation: 'Gespräch',
    action: 'Aktion',
    formerAccount: 'einem nicht mehr bestehenden Konto',
    noConversation: 'nicht mehr gespeichert',
    lift: 'Sperre aufheben',
    liftLabelConversation: 'Sperre aufheben für Gespräch {id}',
    liftLabelSince: 'Sperre aufheben vom {since}',
    confirmConversation: 'Die Sperre für Gespräch {id} jetzt aufheben? Der Chat lässt sich dann auf dem Gerät wieder öffnen (er bleibt beendet) und löschen.',
    confirmSince: 'Die Sperre vom {since} jetzt aufheben? Der Chat lässt sich dann auf dem Gerät wieder öffnen (er bleibt beendet) und löschen.',
    lifted: 'Die Sperre ist aufgehoben.',
    gone: 'Diese Sperre ist bereits abgelaufen oder wurde aus dem Team aufgehoben.',
    notYours: 'Nur Admins und die Supervision dieses Teams können diese Sperre aufheben.',
    loadFailed: 'Die Sperren konnten nicht geladen werden: {reason}',
    liftFailed: 'Die Sperre konnte nicht aufgehoben werden: {reason}',
  },
};

export async function render(ctx, root) {
  const { t } = ctx;
  const listBox = el('div');
  const notice = el('p', { class: 'status-ok' });
  const problemLine = el('p', { class: 'form-status', role: 'alert' });
  const listHeading = el('h2', { id: 'blocks-list-h', text: t('listTitle'), tabindex: '-1' });
  let turn = 0; // only the latest team chosen is drawn (a slow answer may come after)
  let team = null;
  const picker = teamPicker(ctx, (slug) => list(slug));
  root.append(el('p', { class: 'intro', text: t('intro') }), picker,
    el('section', { 'aria-labelledby': 'blocks-list-h' }, listHeading, notice, problemLine, listBox));

  async function list(slug) {
    const mine = ++turn;
    if (slug !== team) {
      notice.textContent = '';
      problemLine.textContent = '';
    }
    team = slug;
    let answer;
    try {
      answer = await ctx.api(`/api/teams/${encodeURIComponent(slug)}/blocks`);
    } catch (err) {
      if (mine !== turn) return;
      listBox.replaceChildren(el('p', { class: 'form-status', role: 'alert', text: t('loadFailed', { reason: problem(err) }) }));
      return;
    }
    if (mine !== turn) return;
    if (!answer.blocks.length) {
      listBox.replaceChildren(el('p', { text: t('none') }));
      return;
    }
    listBox.replaceChildren(table(t('caption'), [t('since'), t('until'), t('by'), t('conversation'), t('action')],
      answer.blocks.map((block) => row(block))));
  }

  function row(block) {
    const since = formatTime(block.created_at, ctx.lang);
    const label = block.conversation
      ? t('liftLabelConversation', { id: block.conversation })
      : t('liftLabelSince', { since });
    const question = block.conversation
      ? t('confirmConversation', { id: block.conversation })
      : t('confirmSince', { since });
    const lift = el('button', { type: 'button', class: 'danger', text: t('lift'), 'aria-label': label });
    lift.addEventListener('click', async () => {
      notice.textContent = '';
      problemLine.textContent = '';
      if (!(await confirmAction(ctx, question, { confirm: t('lift'), danger: true }))) {
        lift.focus();
        return;
      }
      try {
        await ctx.api(`/api/blocks/${encodeURIComponent(block.id)}`, { method: 'DELETE', csrf: ctx.csrf });
      } catch (err) {
        const reason = err.status === 404 ? t('gone') : err.status === 403 ? t('notYours') : t('liftFailed', { reason: problem(err) });
        await list(team);
        problemLine.textContent = reason;
        listHeading.focus();
        return;
      }
      await list(team);
      notice.textContent = t('lifted');
      ctx.announce(t('lifted'));
      listHeading.focus();
    });
    return [
      since,
      formatTime(block.expires_at, ctx.lang),
      block.created_by ? block.created_by.name : t('formerAccount'),
      block.conversation ? { text: block.conversation, class: 'mono' } : t('noConversation'),
      lift,
    ];
  }

  await picker.ready;
}
