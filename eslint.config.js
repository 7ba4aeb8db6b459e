// ESLint flat config (ESLint 9, typescript-eslint without type-aware rules so a full run stays
// fast). Errors fail ci/test.sh; warnings are printed on every run without failing it.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // Only harness/, suites/, bench/, test/, bin/ and the root config files are source; run
    // output (reports/, Allure results and reports wherever they land) is never linted.
    ignores: [
      '**/node_modules/**',
      'reports/**',
      '**/allure-results/**',
      '**/allure-report/**',
      '**/allure-report-single/**',
      '.vitest-tmp/**',
      '.scratch/**',
      'vagrant/**',
      'baselines/**',
      'docs/**',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.{ts,js,mjs,cjs}'],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.node },
    },
    linterOptions: { reportUnusedDisableDirectives: 'warn' },
    rules: {
      // Code shape (issue 12): flagged on every run, not failing it yet.
      'max-len': ['warn', { code: 120, ignoreUrls: true }],
      'max-lines-per-function': ['warn', { max: 60, skipBlankLines: true, skipComments: true }],

      // `any` on parsed tool output (fio, iperf3) skips the checks exactly where outside input
      // arrives; deliberate uses (autocannon internals in probes/http.ts) get a disable comment.
      '@typescript-eslint/no-explicit-any': 'warn', // TODO(lead): make error once fixed

      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          args: 'after-used',
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrors: 'all',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
    },
  },
);
