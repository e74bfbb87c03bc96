/**
 * Evaluated before AdminJS (import it first): AdminJS reads where to keep its bundle of our components when
 * its module loads, and never rebuilds a bundle that exists. Keyed by a hash of the components and the
 * AdminJS version, a changed component gets a fresh bundle instead of a stale one.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const componentsDirectory = path.join(path.dirname(fileURLToPath(import.meta.url)), 'components');

if (!process.env.ADMIN_JS_TMP_DIR) {
  const hash = createHash('sha256');
  const adminjs = createRequire(import.meta.url).resolve('adminjs');
  hash.update(readFileSync(path.join(path.dirname(adminjs), 'package.json')));
  for (const file of readdirSync(componentsDirectory).sort()) hash.update(file).update(readFileSync(path.join(componentsDirectory, file)));
  process.env.ADMIN_JS_TMP_DIR = path.join(os.tmpdir(), `nexusflow-adminjs-${hash.digest('hex').slice(0, 16)}`);
}
