import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, in the order data flows through them (docs/architecture.md). A folder may
 * import the folders listed for it and nothing else of the scaler's; `telemetry.ts` and `log.ts`
 * may be imported from anywhere and import nothing of the scaler's themselves.
 */
const LAYERS = {
  config: [],
  planning: [],
  discovery: ['config'],
  store: ['config'],
  sources: ['config', 'discovery', 'store'],
  signals: ['config', 'store'],
  policies: ['config', 'store', 'signals'],
  triggers: ['config', 'store', 'signals', 'policies'],
  grpc: ['config', 'store', 'signals', 'policies', 'triggers'],
  http: ['config', 'store', 'signals', 'policies', 'triggers'],
  simulation: ['config', 'store', 'sources', 'signals', 'policies', 'triggers'],
};
const ANYWHERE = ['./src/telemetry.ts', './src/log.ts'];

/** For each layer, everything of src/ it must not import: all but itself, its allowed layers and the ground floor. */
const layerZones = Object.entries(LAYERS).map(([layer, allowed]) => ({
  target: `./src/${layer}`,
  from: './src',
  except: [`./${layer}`, ...allowed.map((f) => `./${f}`), ...ANYWHERE.map((p) => p.replace('./src/', './'))],
  message:
    `src/${layer} may import only ${allowed.length ? allowed.map((f) => `src/${f}`).join(', ') : 'nothing of the scaler'} (plus telemetry and ` +
    `log): see docs/architecture.md`,
}));

const groundZones = ANYWHERE.map((file) => ({
  target: file,
  from: './src',
  message: 'telemetry and logging import nothing of the scaler: every layer may use them',
}));

export default tseslint.config(
  { ignores: ['dist/', 'dist-bench/', 'node_modules/', 'coverage/', 'src/http/ui/vendor/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { '@stylistic': stylistic },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@stylistic/max-len': ['error', { code: 160, ignoreUrls: true, ignoreRegExpLiterals: true }],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { zones: [...layerZones, ...groundZones] }],
      'import-x/no-cycle': 'error',
    },
  },
);
