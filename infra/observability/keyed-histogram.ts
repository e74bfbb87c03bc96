import type { Metric, Registry } from 'prom-client';

/** One line of the exposition, as prom-client's registry reads it. */
type Sample = { labels: Record<string, string | number>; value: number; metricName: string };

/** One series of a {@link KeyedHistogram}: the counts of one label value. */
export class HistogramCell {
  /** Per bucket, not cumulative (the exposition adds them up); the last one is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

/**
 * A Prometheus histogram with one label, whose series are observed through cells kept per label value: an
 * observation is a bucket search and three additions. prom-client's Histogram checks and hashes the labels
 * of every observation (~1 µs each); the command path observes each of its layers once per request, about ten
 * times. Exposed by the registry like prom-client's own (`_bucket` with `le`, `_sum`, `_count`).
 */
export class KeyedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly cells = new Map<string, HistogramCell>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelName: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of one label value (made on first use). */
  cell(labelValue: string): HistogramCell {
    let cell = this.cells.get(labelValue);
    if (!cell) this.cells.set(labelValue, (cell = new HistogramCell(this.buckets)));
    return cell;
  }

  observe(labelValue: string, value: number): void {
    this.cell(labelValue).observe(value);
  }

  reset(): void {
    this.cells.clear();
  }

  /** What prom-client's registry reads: the series in its own histograms' shape. */
  get(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Sample[] } {
    const values: Sample[] = [];
    for (const [labelValue, cell] of this.cells) {
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += cell.counts[i]!;
        values.push({
          labels: { le: i < this.buckets.length ? this.buckets[i]! : '+Inf', [this.labelName]: labelValue },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      }
      values.push({ labels: { [this.labelName]: labelValue }, value: cell.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { [this.labelName]: labelValue }, value: cell.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
