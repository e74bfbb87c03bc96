import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { deployedNodeOptions } from '../bench/http.ts';

/**
 * A process's Node options (V8's heap among them) change what it costs: each process is to run with the same
 * ones wherever it is started. package.json's scripts are the source, read as the bench reads them
 * (bench/http.ts, deployedNodeOptions); docker-compose.yml and the image's default command must say the same.
 */
const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts;
const compose = readFileSync('docker-compose.yml', 'utf8');
const dockerfile = readFileSync('Dockerfile', 'utf8');
const roles = ['command-api', 'query-api', 'projectors', 'admin'];

const escaped = (text: string) => text.replace(/[./]/g, '\\$&');

/** The options of an exec-form command `["node", "<option>", …, "<file>"]`, after `prefix`. */
function execFormOptions(text: string, prefix: string, file: string): string[] | null {
  const found = new RegExp(`${prefix}\\["node", ((?:"--[^"]+", )*)"${escaped(file)}"\\]`).exec(text);
  return found ? [...found[1]!.matchAll(/"(--[^"]+)"/g)].map((option) => option[1]!) : null;
}

describe('launch options: a process runs with the same Node options wherever it is started', () => {
  for (const role of roles) {
    it(`${role}: docker-compose.yml's command and the development script give the options of start:prod:${role}`, async () => {
      // What the bench starts the role's build with (it throws if the script does not read `exec node <options> <file>`).
      const production = await deployedNodeOptions(`${role}/main.ts`, { compiled: true });
      expect(execFormOptions(compose, 'command: ', `dist/${role}/main.js`), 'docker-compose.yml').to.deep.equal(production);
      // Under tsx (which maps sources itself): `exec tsx <role>/main.ts`, or `exec node <options> --import tsx <role>/main.ts`.
      const development = scripts[`start:${role}`] ?? '';
      const options =
        development === `exec tsx ${role}/main.ts`
          ? []
          : (/^exec node ((?:--\S+\s+)*)--import tsx (\S+)$/.exec(development)?.[1]?.split(/\s+/).filter(Boolean) ?? null);
      expect(options, `start:${role}`).to.deep.equal(production.filter((option) => option !== '--enable-source-maps'));
    });
  }

  it("the image's default command (the all-in-one) gives the options of npm start", async () => {
    const start = await deployedNodeOptions('main.ts', { compiled: true });
    expect(execFormOptions(dockerfile, 'CMD ', 'dist/main.js')).to.deep.equal(start);
  });
});
