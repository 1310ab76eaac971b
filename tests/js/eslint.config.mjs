// ESLint (flat config) for the browser code in widget/ and the Node test helpers here.
// Run from the repository root: tests/js/node_modules/.bin/eslint -c tests/js/eslint.config.mjs
// (scripts/lint does). Test-only: nothing here ships with the product.
import js from '@eslint/js';
import globals from 'globals';

// Rules beyond eslint:recommended that catch real bugs, not style.
const bugs = {
  'no-unused-vars': ['error', { args: 'after-used', caughtErrors: 'none', ignoreRestSiblings: true }],
  'no-undef': 'error',
  eqeqeq: ['error', 'always', { null: 'ignore' }], // `x == null` means null or undefined
  'no-implicit-globals': 'error',
  'no-shadow-restricted-names': 'error',
  'no-self-compare': 'error',
  'no-template-curly-in-string': 'error',
  'no-unmodified-loop-condition': 'error',
  'no-unreachable-loop': 'error',
  'no-constructor-return': 'error',
  'no-new-wrappers': 'error',
  'no-throw-literal': 'error',
  'no-eval': 'error',
  'no-implied-eval': 'error',
  'no-new-func': 'error',
  'no-script-url': 'error',
  'no-var': 'error',
  'prefer-const': ['error', { destructuring: 'all' }],
  'array-callback-return': 'error',
  radix: 'error',
};

// With -c, ESLint 9 takes paths relative to the working directory: run it from the
// repository root (files outside it are ignored).
export default [
  { ignores: ['**/node_modules/**'] },
  {
    files: ['widget/**/*.js', 'tests/js/*.mjs', 'tests/js/*.js'],
    ...js.configs.recommended,
  },
  {
    files: ['widget/**/*.js', 'tests/js/*.mjs', 'tests/js/*.js'],
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    languageOptions: { ecmaVersion: 'latest', sourceType: 'module', globals: { ...globals.browser } },
    rules: bugs,
  },
  // Embedded on third-party sites as a classic <script>: no module syntax, ES5 syntax as
  // it is written (for old browsers on host pages), nothing leaking into the host page's
  // globals (no-implicit-globals), one 'use strict' inside its function.
  {
    files: ['widget/loader.js'],
    languageOptions: { ecmaVersion: 5, sourceType: 'script', globals: { ...globals.browser } },
    rules: { 'no-var': 'off', 'prefer-const': 'off', strict: ['error', 'function'] },
  },
  // The test helpers run under Node (and e2e_vectors.mjs also in a browser page).
  {
    files: ['tests/js/*.mjs', 'tests/js/*.js'],
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
  },
];
