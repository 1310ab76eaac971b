/**
 * Suite cc1 of the end-to-end layer on WebCrypto alone (docs/e2e.md, byte for byte): one
 * module for all of it, shared by the widget and the consoles. The widget imports only
 * `e2e-core.js` (what a client needs) to stay small; consoles and tests import this.
 *
 * @module e2e
 */

export * from './e2e-core.js';
export * from './e2e-staff.js';
