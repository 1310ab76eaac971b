/* The key horizon of this counsellor's teams: how long the epochs an admin made still take
 * new chats (docs/operations.md, "Keys ahead"). Below URGENT_HOURS every console of the team
 * says so, and at none new chats are paused until an admin signs in; read from each team's
 * status, after each hello and every few minutes. */
import { $, t } from './dom.js';
import { state } from './store.js';

const EVERY_MS = 5 * 60_000;
let timer = null;

/** Reads the horizon now and then every EVERY_MS while the page is open. */
export function watchKeys() {
  checkKeys();
  if (timer === null) timer = setInterval(checkKeys, EVERY_MS);
}

async function checkKeys() {
  const lines = [];
  for (const team of state.me?.teams ?? []) {
    let h;
    try {
      const answer = await fetch(`/api/teams/${encodeURIComponent(team)}/status`, { cache: 'no-store' });
      h = (await answer.json()).keys;
    } catch {
      return; // the connection bar already says when the server is away
    }
    if (!h) continue;
    if (h.level === 'paused') lines.push(t('keysPaused', { team }));
    else if (h.level === 'urgent') lines.push(t('keysUrgent', { team, until: new Date(h.covered_until).toLocaleString(state.lang, { weekday: 'short', hour: '2-digit', minute: '2-digit' }) }));
  }
  const banner = $('keys-banner');
  banner.textContent = lines.join(' ');
  banner.hidden = lines.length === 0;
}
