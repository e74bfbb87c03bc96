import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { operatorHealth, TEST_OPERATOR_TOKEN } from './http.ts';

const root = path.resolve(import.meta.dirname, '../..');

/** A NexusFlow role started as its own process (`npm run start:<role>` does the same), for kill tests. */
export class RoleProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly origin: string,
    private readonly output: () => string,
  ) {}

  static async start(entry: string, env: NodeJS.ProcessEnv): Promise<RoleProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', entry], {
      cwd: root,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', OPERATOR_TOKEN: TEST_OPERATOR_TOKEN, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${entry}: no "listening" line within 60 s:\n${output.slice(-4_000)}`)), 60_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const line = output.split('\n').find((l) => l.includes('"listening"'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line).port);
        }
        if (output.length > 2_000_000) output = output.slice(-1_000_000);
      });
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${entry} exited with ${code} before listening:\n${output.slice(-4_000)}`));
      });
    });
    return new RoleProcess(child, `http://127.0.0.1:${port}`, () => output);
  }

  /** The operator's detailed health (the process must have been started with OPERATOR_TOKEN = TEST_OPERATOR_TOKEN). */
  async health(): Promise<Record<string, any>> {
    return (await fetch(`${this.origin}${operatorHealth.path}`, { headers: operatorHealth.headers })).json() as Promise<Record<string, any>>;
  }

  /** The end no graceful shutdown gets: the process is gone mid-whatever. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    await exited;
  }

  log(): string {
    return this.output();
  }
}
