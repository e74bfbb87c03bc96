import { expect } from 'chai';
import { WorkflowBacklog } from './backlog.ts';

describe('WorkflowBacklog: background work yields only to a runner that stays behind', () => {
  it('is active once every claim for the onset filled every slot, and ends with the first claim that did not', () => {
    let now = 0;
    const backlog = new WorkflowBacklog(1_000, () => now);
    expect(backlog.active).to.equal(false);
    backlog.set(true);
    now = 999;
    backlog.set(true);
    expect(backlog.active, 'a short spell changes nothing').to.equal(false);
    now = 1_000;
    expect(backlog.active).to.equal(true);
    backlog.set(false);
    expect(backlog.active).to.equal(false);
    backlog.set(true);
    now = 1_500;
    expect(backlog.active, 'the onset counts again from the new spell').to.equal(false);
  });
});
