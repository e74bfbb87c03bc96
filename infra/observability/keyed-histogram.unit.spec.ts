import { expect } from 'chai';
import { Histogram, Registry } from 'prom-client';
import { KeyedHistogram } from './keyed-histogram.ts';

describe('KeyedHistogram: a one-label histogram observed through cells', () => {
  const buckets = [0.001, 0.01, 0.1, 1];
  // On a bound, past the last bound, zero, and several series.
  const observations: [string, number][] = [
    ['sealing', 0.0005],
    ['sealing', 0.001],
    ['sealing', 0.0011],
    ['append', 0.05],
    ['append', 3],
    ['append', 0],
    ['sealing', 0.25],
  ];

  it("exposes what prom-client's Histogram exposes for the same observations", async () => {
    const theirs = new Registry();
    const reference = new Histogram({ name: 'nf_test_seconds', help: 'A test', labelNames: ['layer'], buckets, registers: [theirs] });
    const ours = new Registry();
    const keyed = new KeyedHistogram('nf_test_seconds', 'A test', 'layer', buckets, ours);
    for (const [layer, value] of observations) {
      reference.observe({ layer }, value);
      if (layer === 'sealing') keyed.cell(layer).observe(value);
      else keyed.observe(layer, value);
    }
    const text = await ours.metrics();
    expect(text).to.equal(await theirs.metrics());
    expect(text).to.include('nf_test_seconds_bucket{le="0.001",layer="sealing"} 2');
    expect(text).to.include('nf_test_seconds_bucket{le="+Inf",layer="append"} 3');
    expect(text).to.include('nf_test_seconds_count{layer="sealing"} 4');
  });

  it('starts over on reset, and refuses a second metric of its name in one registry', async () => {
    const registry = new Registry();
    const keyed = new KeyedHistogram('nf_reset_seconds', 'A test', 'layer', buckets, registry);
    keyed.observe('command', 0.2);
    keyed.reset();
    expect(await registry.metrics()).not.to.include('layer="command"');
    expect(() => new Histogram({ name: 'nf_reset_seconds', help: 'Another', registers: [registry] })).to.throw(/already been registered/);
  });
});
