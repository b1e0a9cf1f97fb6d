import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/results/'] },
  js.configs.recommended,
  { languageOptions: { globals: globals.node } },
  ...tseslint.configs.recommended,
  {
    // The dashboard: browser code, type-checked with web/tsconfig.json.
    files: ['web/**/*.{ts,tsx}'],
    languageOptions: {
      globals: globals.browser,
      parserOptions: { project: ['web/tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.ts'],
    ignores: ['web/**'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.name='eval']",
          message: 'no eval: expressions go through JSONata',
        },
        { selector: "NewExpression[callee.name='Function']", message: 'no new Function' },
      ],
    },
  },
  {
    // Parts depend on each other only through their index.ts; dialects stay inside storage.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^\\.\\./(?!\\.\\.)[^/]+/(?!index\\.js$).+',
              message: 'Import another part through its index.ts, not its internals.',
            },
            {
              regex: '^\\.\\./\\.\\./(?!\\.\\.)[^/]+/(?!index\\.js$).+',
              message: 'Import another part through its index.ts, not its internals.',
            },
            { group: ['node:vm'], message: 'No node:vm on user input.' },
          ],
        },
      ],
    },
  },
  {
    // Storage's subfolders (dialect/, migrations/, repositories/) reach each other with ../.
    files: ['src/storage/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
