// `npm run build`: compiles the sources to dist/ (tsconfig.build.json) and copies beside them the files the
// compiled code reads at run time, so `node dist/main.js` needs nothing but dist/ and the production
// dependencies. A fresh dist/ each time: no file of a deleted module lingers in it.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');

/** Read at run time relative to the module that reads them (import.meta.url), so they keep their place in dist/. */
const assets = [
  // The staff console's React components: AdminJS bundles them when the console starts (admin/console/adminjs-environment.ts).
  'admin/console/components',
  // Run as a child process on the embedded database's first start (infra/postgres/embedded-postgres.ts).
  'infra/postgres/initdb.mjs',
  // The AI service's versioned prompts (command-api/ai/prompt-book.ts).
  'command-api/ai/prompts',
  // The version the command line reports (admin/cli/nexusflow.ts reads ../../package.json); also marks dist/ as ES modules.
  'package.json',
];

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
for (const asset of assets) cpSync(path.join(root, asset), path.join(dist, asset), { recursive: true });
