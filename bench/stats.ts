import { readFileSync } from 'node:fs';
/** Latency samples in milliseconds and what the bench prints about them. */
export class Latencies {
  private readonly samples: number[] = [];

  add(ms: number): void {
    this.samples.push(ms);
  }

  get count(): number {
    return this.samples.length;
  }

  /** Nearest-rank percentile (p in 0..100). */
  percentile(p: number): number {
    if (this.samples.length === 0) return Number.NaN;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[rank]!;
  }
}

/** One figure, printed as `name: value unit` and its target when it has one (grep-able by CI). */
export function report(name: string, value: number, unit: string, target?: string): void {
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  console.log(`${name}: ${value.toFixed(digits)} ${unit}${target ? `   (target: ${target})` : ''}`);
}

export function note(text: string): void {
  console.log(`# ${text}`);
}

/**
 * The whole machine's CPU from now on (Linux /proc/stat: every process, the database and the load generator
 * included): `busy()` is the share of all cores used since, 0..1, or null where /proc/stat is not there.
 * An open-loop figure taken on a machine near 100 % measures the queue in front of a full machine.
 */
export function machineCpu(): { busy(): number | null } {
  const read = (): { busy: number; total: number } | null => {
    try {
      const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
      const total = fields.reduce((a, b) => a + b, 0);
      // idle and iowait are the time no process ran.
      return { busy: total - fields[3]! - fields[4]!, total };
    } catch {
      return null;
    }
  };
  const start = read();
  return {
    busy: () => {
      const end = read();
      return start && end && end.total > start.total ? (end.busy - start.busy) / (end.total - start.total) : null;
    },
  };
}

export function mib(bytes: number): number {
  return bytes / (1024 * 1024);
}

/**
 * Runs `concurrency` closed-loop workers calling `operation` until `durationMs` has passed, after a warm-up
 * of `warmupMs` whose results are discarded. Returns operations per second and latencies.
 */
export async function closedLoop(options: {
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  operation: (worker: number) => Promise<void>;
  /** Called as the measured window opens and as it closes (e.g. to read a server's counters). */
  onMeasureStart?: () => Promise<void>;
  onMeasureEnd?: () => Promise<void>;
}): Promise<{
  perSecond: number;
  latencies: Latencies;
  errors: number;
  firstError?: unknown;
  done: number;
  /** The warm-up's own figures (operations that ended before the measured window opened). */
  warmup: { perSecond: number; latencies: Latencies };
}> {
  const latencies = new Latencies();
  const warmupLatencies = new Latencies();
  let warmupDone = 0;
  let measuring = false;
  let warmingUp = true;
  let stop = false;
  let done = 0;
  let errors = 0;
  let firstError: unknown;
  const worker = async (index: number) => {
    while (!stop) {
      const started = performance.now();
      try {
        await options.operation(index);
      } catch (err) {
        errors++;
        firstError ??= err;
        continue;
      }
      if (measuring) {
        latencies.add(performance.now() - started);
        done++;
      } else if (warmingUp) {
        warmupLatencies.add(performance.now() - started);
        warmupDone++;
      }
    }
  };
  const workers = Array.from({ length: options.concurrency }, (_, i) => worker(i));
  const warmupStarted = performance.now();
  await new Promise((r) => setTimeout(r, options.warmupMs));
  warmingUp = false;
  const warmupElapsed = performance.now() - warmupStarted;
  await options.onMeasureStart?.();
  measuring = true;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, options.durationMs));
  measuring = false;
  const elapsed = performance.now() - started;
  await options.onMeasureEnd?.();
  stop = true;
  await Promise.all(workers);
  return {
    perSecond: (done / elapsed) * 1000,
    latencies,
    errors,
    firstError,
    done,
    warmup: { perSecond: warmupElapsed > 0 ? (warmupDone / warmupElapsed) * 1000 : Number.NaN, latencies: warmupLatencies },
  };
}

/** Samples of a Prometheus exposition (GET /metrics): `name{labels}` → value. */
export type Samples = Map<string, number>;

export function parseMetrics(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/** The sum of every sample of a series (all label sets), or of those whose labels include `labels`. */
export function total(samples: Samples, name: string, labels = ''): number {
  let sum = 0;
  for (const [key, value] of samples) {
    const brace = key.indexOf('{');
    const series = brace < 0 ? key : key.slice(0, brace);
    if (series === name && (labels === '' || key.includes(labels))) sum += value;
  }
  return sum;
}

/** Waits, polling every 100 ms, until `check` holds; fails naming `what` after `timeoutMs`. */
export async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
