#!/usr/bin/env node
// The `nexusflow` command (package.json "bin"). In a checkout with its development dependencies it runs the
// TypeScript sources through tsx (what you edit is what runs); where tsx is not installed (`npm ci --omit=dev`
// after `npm run build`) it runs the compiled command line in dist/.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const sources = new URL('./nexusflow.ts', import.meta.url);
let tsx = null;
try {
  tsx = createRequire(import.meta.url).resolve('tsx/esm/api');
} catch {
  tsx = null;
}
if (existsSync(sources) && tsx) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./nexusflow.ts');
} else {
  await import(new URL('../../dist/admin/cli/nexusflow.js', import.meta.url).href);
}
