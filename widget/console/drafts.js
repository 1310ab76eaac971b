/* Drafts of the console's replies, kept per chat in this tab's sessionStorage, sealed
 * (AES-GCM) under a key derived from the password's wrap key: a reload asks for the
 * password and then gives them back; nobody without it can read them. No DOM. */
import * as e2e from '/widget/shared/e2e-core.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const DRAFTS = 'cc-console-drafts'; // sessionStorage: sealed drafts of this tab

export class Drafts {
  constructor(key) {
    this.key = key; // 32 bytes from the wrap key; the sealed text is useless without the password
    this.texts = {};
  }

  static async open(wrap, staffId) {
    const drafts = new Drafts(await e2e.hkdf(wrap, new TextEncoder().encode(staffId), 'cc console drafts'));
    const stored = sessionStorage.getItem(DRAFTS);
    if (stored) {
      try {
        const bytes = e2e.b64decode(stored);
        const plain = await e2e.open(drafts.key, bytes.subarray(0, 12), bytes.subarray(12), new Uint8Array(0));
        drafts.texts = JSON.parse(utf8.decode(plain));
      } catch {
        sessionStorage.removeItem(DRAFTS); // another account's, or changed
      }
    }
    return drafts;
  }

  get(cid) {
    return this.texts[cid] ?? '';
  }

  async set(cid, text) {
    if (text) this.texts[cid] = text;
    else delete this.texts[cid];
    const nonce = e2e.randomBytes();
    const sealed = await e2e.seal(this.key, nonce, new TextEncoder().encode(JSON.stringify(this.texts)), new Uint8Array(0));
    sessionStorage.setItem(DRAFTS, e2e.b64encode(e2e.concat(nonce, sealed)));
  }

  static wipe() {
    sessionStorage.removeItem(DRAFTS);
  }
}
