/* Signing in and unlocking, shared by the duty console and the admin area (docs/e2e.md,
 * "Passwords and identity keys"), no DOM: the JSON requests both make, the session, the
 * password's derivation and the account secret key this device keeps. The password never
 * leaves the page. */
import * as e2e from './e2e-core.js';
import * as staff from './e2e-staff.js';

const SECRETS = 'cc-console-secret:'; // localStorage: an account secret key, per username

// A refusal by the server, shown to the person with its message.
export class Refused extends Error {
  constructor(f) {
    super(f.message);
    this.code = f.code;
  }
}

/**
 * A JSON request to the server: the answer's JSON, or a Refused with its `status`.
 * @param {string} path
 * @param {{method?: string, body?: unknown, csrf?: string}} [options] `body` is sent as JSON
 * @returns {Promise<any>}
 */
async function api(path, { method = 'GET', body, csrf } = {}) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (csrf) headers['X-CSRF-Token'] = csrf;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Refused(data.error ?? { code: 'server_error', message: res.statusText }), { status: res.status });
  return data;
}
export { api };

/** The signed-in staff member (`/api/me`), or null when there is no session. */
export async function currentStaff() {
  try {
    return await api('/api/me');
  } catch (err) {
    if (err.status === 401) return null;
    throw err;
  }
}

/** The account secret key this device keeps for `username` (empty without one). */
export function deviceSecret(username) {
  const text = localStorage.getItem(SECRETS + staff.normaliseUsername(username));
  return text ? e2e.b64decode(text) : new Uint8Array(0);
}

/** Parses a secret key as written on the recovery sheet (base64, spaces allowed). */
export function parseSecret(text) {
  const clean = text.replace(/[\s-]/g, '');
  if (!clean) return new Uint8Array(0);
  const bytes = e2e.b64decode(clean);
  if (bytes.length !== 16) throw new e2e.E2EError('badSecret');
  return bytes;
}

export function rememberSecret(username, secret) {
  if (secret.length) localStorage.setItem(SECRETS + staff.normaliseUsername(username), e2e.b64encode(secret));
}

/**
 * PBKDF2 of the password (about a second), then the login credential and the wrap key.
 * `salt` is the account's public salt (`/api/me`'s `staff.salt`, or `loginSalt` before
 * signing in): the installation's id, never the address this page was loaded from.
 */
export async function derive(password, username, secret, salt) {
  const m = await staff.deriveMaster(password, salt, username);
  return { credential: await staff.authCredential(m, secret), wrap: await staff.wrapKey(m, secret) };
}

/** What the server says the password of `username` is salted with (public). */
export async function loginSalt(username) {
  return (await api('/api/login/salt', { method: 'POST', body: { username } })).salt;
}

/**
 * Signs in with the password (and the account secret key typed from the recovery sheet,
 * else the one this device keeps), remembers that key on this device, and returns the
 * wrap key that unlocks the identity. The password never leaves the page.
 */
export async function signIn(username, password, typedSecret, totp) {
  const secret = typedSecret ? parseSecret(typedSecret) : deviceSecret(username);
  const { credential, wrap } = await derive(password, username, secret, await loginSalt(username));
  await login(username, credential, totp);
  rememberSecret(username, secret);
  return wrap;
}

export function login(username, credential, totp) {
  return api('/api/login', { method: 'POST', body: { username, credential, totp } });
}
