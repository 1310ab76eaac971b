/* Each team's root-key pin and the newest roster version this device has seen, shared by
 * the duty console and the admin area (docs/e2e.md: a team root key is pinned the first
 * time it is seen, and another one later is refused until the person trusts it). Kept in
 * localStorage per origin and team; no DOM. */

const PINS = 'cc-console-pins'; // localStorage: team root pins and roster versions seen here

/** Every pin this device keeps, by `place(team)`. */
export function loadPins() {
  try {
    return JSON.parse(localStorage.getItem(PINS) ?? '{}');
  } catch {
    return {};
  }
}

/** Keeps `pins` (loadPins() with changes). */
export function savePins(pins) {
  localStorage.setItem(PINS, JSON.stringify(pins));
}

/** A team's key in loadPins(): this server's origin and the team's slug. */
export function place(team) {
  return `${location.origin} ${team}`;
}

/** Trust another root key for `team` on this device (the person compared its safety
 * number); `version` is the roster version seen with it. */
export function trustPin(team, pin, version = 0) {
  const pins = loadPins();
  pins[place(team)] = { pin, version };
  savePins(pins);
}
