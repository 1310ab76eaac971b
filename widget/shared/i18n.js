/* The language helpers the duty console and the admin area share: which language to show,
 * and a `t(key, vars)` over a catalogue. (The chat page has its own, smaller, in
 * widget/i18n.js: its modules count against a size budget.) */

/**
 * The language chosen on this device (localStorage `key`), else the browser's: 'de' or 'en'.
 * @param {string} key
 * @returns {'de' | 'en'}
 */
export function language(key) {
  const chosen = localStorage.getItem(key);
  if (chosen === 'de' || chosen === 'en') return chosen;
  return (navigator.language || 'en').toLowerCase().startsWith('de') ? 'de' : 'en';
}

/**
 * A `t(key, vars)` over `table` ({en: {...}, de: {...}}): the text in `lang`, else in
 * English, else the key; `{name}` is replaced by `vars.name`.
 * @param {Record<string, Record<string, string>>} table
 * @param {string} lang
 * @returns {(key: string, vars?: Record<string, unknown>) => string}
 */
export function translator(table, lang) {
  const own = table[lang] ?? table.en ?? {};
  const fallback = table.en ?? {};
  return (key, vars = {}) => String(own[key] ?? fallback[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));
}
