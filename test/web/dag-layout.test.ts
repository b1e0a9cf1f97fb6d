import { describe, expect, it } from 'vitest';
import {
  layoutDag,
  LAYER_GAP,
  NODE_HEIGHT,
  NODE_WIDTH,
  stateLabel,
  type StepLike,
} from '../../web/src/dag/layout.js';
import { stepStates } from '../../web/src/dag/step-states.js';

const byId = (layout: ReturnType<typeof layoutDag>) => new Map(layout.nodes.map((n) => [n.id, n]));

describe('layoutDag', () => {
  it('puts each step one layer right of its deepest dependency (longest path)', () => {
    const steps: StepLike[] = [
      { id: 'a', needs: [] },
      { id: 'b', needs: ['a'] },
      { id: 'c', needs: ['b'] },
      // Needs a (layer 0) and c (layer 2): the longest path wins.
      { id: 'd', needs: ['a', 'c'] },
      { id: 'e' },
    ];
    const layout = layoutDag({ steps });
    const n = byId(layout);
    expect([...n.values()].map((x) => [x.id, x.layer])).toEqual([
      ['a', 0],
      ['b', 1],
      ['c', 2],
      ['d', 3],
      ['e', 0],
    ]);
    // x by layer, nodes of one layer one under another.
    expect(n.get('d')!.x - n.get('c')!.x).toBe(NODE_WIDTH + LAYER_GAP);
    expect(n.get('a')!.x).toBe(n.get('e')!.x);
    expect(Math.abs(n.get('a')!.y - n.get('e')!.y)).toBeGreaterThanOrEqual(NODE_HEIGHT);
    expect(layout.edges.map((e) => e.id).sort()).toEqual(['a->b', 'a->d', 'b->c', 'c->d']);
    expect(layout.width).toBeGreaterThanOrEqual(n.get('d')!.x + NODE_WIDTH);
  });

  it('accepts a single `needs` string and ignores unknown dependencies and cycles', () => {
    const layout = layoutDag({
      steps: [
        { id: 'x', needs: 'y' },
        { id: 'y', needs: ['x', 'ghost'] },
        { id: 'z', needs: 'x' },
      ],
    });
    const n = byId(layout);
    expect(n.size).toBe(3);
    for (const node of n.values()) expect(Number.isFinite(node.layer)).toBe(true);
    expect(n.get('z')!.layer).toBeGreaterThan(n.get('x')!.layer);
    expect(layout.edges.some((e) => e.source === 'ghost')).toBe(false);
  });

  it('orders a layer by its parents so chains do not cross', () => {
    // Two chains p1→c1, p2→c2, the children written in the other order.
    const layout = layoutDag({
      steps: [{ id: 'p1' }, { id: 'p2' }, { id: 'c2', needs: ['p2'] }, { id: 'c1', needs: ['p1'] }],
    });
    const n = byId(layout);
    expect(n.get('p1')!.order).toBe(0);
    expect(n.get('c1')!.order).toBe(0);
    expect(n.get('c2')!.order).toBe(1);
    expect(n.get('c1')!.y).toBeLessThan(n.get('c2')!.y);
  });

  it('draws a for_each step as one fan-out node and groups pattern and consensus members', () => {
    const member = (id: string, step: string, kind: 'pattern' | 'consensus'): StepLike => ({
      id,
      needs: ['fan'],
      origin: { kind, step, pattern: kind === 'pattern' ? 'concurrent' : undefined, role: 'member' },
    });
    const layout = layoutDag({
      steps: [
        { id: 'fan', for_each: 'trigger.items', agent: { name: 'builtin/transform' } },
        { id: 'solo', needs: ['fan'] },
        member('vote__1', 'vote', 'consensus'),
        member('team__1', 'team', 'pattern'),
        member('vote__2', 'vote', 'consensus'),
        member('team__2', 'team', 'pattern'),
        {
          id: 'vote',
          needs: ['vote__1', 'vote__2'],
          consensus: { strategy: 'voting', members: ['vote__1', 'vote__2'] },
        },
      ],
    });
    const n = byId(layout);
    expect(n.get('fan')).toMatchObject({ fanOut: true, detail: 'builtin/transform' });
    expect(layout.nodes.filter((x) => x.fanOut)).toHaveLength(1);
    const groups = new Map(layout.groups.map((g) => [g.id, g]));
    expect([...groups.get('team')!.members].sort()).toEqual(['team__1', 'team__2']);
    expect([...groups.get('vote')!.members].sort()).toEqual(['vote', 'vote__1', 'vote__2']);
    expect(groups.get('team')!.label).toContain('concurrent');
    expect(groups.get('vote')!.label).toContain('voting');
    // Members of a group are adjacent in their layer, whatever the written order.
    const orders = (ids: string[]) => ids.map((id) => n.get(id)!.order).sort((a, b) => a - b);
    const team = orders(['team__1', 'team__2']);
    expect(team[1]! - team[0]!).toBe(1);
    const vote = orders(['vote__1', 'vote__2']);
    expect(vote[1]! - vote[0]!).toBe(1);
    // A group's frame contains its members.
    for (const g of layout.groups)
      for (const id of g.members) {
        const m = n.get(id)!;
        expect(m.x).toBeGreaterThan(g.x);
        expect(m.y).toBeGreaterThan(g.y);
        expect(m.x + m.width).toBeLessThan(g.x + g.width);
        expect(m.y + m.height).toBeLessThan(g.y + g.height);
      }
  });

  it('lays out 1,000 steps quickly', () => {
    const steps: StepLike[] = Array.from({ length: 1000 }, (_, i) => ({
      id: `s${i}`,
      needs: i === 0 ? [] : [`s${Math.floor((i - 1) / 3)}`],
    }));
    const t = performance.now();
    const layout = layoutDag({ steps });
    expect(performance.now() - t).toBeLessThan(500);
    expect(new Set(layout.nodes.map((x) => `${x.x},${x.y}`)).size).toBe(1000);
  });
});

describe('fan-out counts', () => {
  it('reads "done/total done, n failed" from the run steps and the attempts', () => {
    const states = stepStates(
      { fan: { status: 'running', items: { total: 100, done: 37 } }, a: { status: 'completed' } },
      [
        { taskId: 't1', stepId: 'fan', itemIndex: 0, attempt: 1, status: 'failed', runAttempt: null },
        // Retried and then completed: not failed.
        { taskId: 't2', stepId: 'fan', itemIndex: 1, attempt: 1, status: 'failed', runAttempt: null },
        { taskId: 't2', stepId: 'fan', itemIndex: 1, attempt: 2, status: 'completed', runAttempt: null },
        { taskId: 't3', stepId: 'fan', itemIndex: 2, attempt: 1, status: 'timeout', runAttempt: null },
        // A task of the run's earlier attempt does not count.
        { taskId: 't0', stepId: 'fan', itemIndex: 0, attempt: 1, status: 'failed', runAttempt: 1 },
      ],
    );
    expect(states.fan).toEqual({ status: 'running', done: 37, total: 100, failed: 2 });
    expect(stateLabel(states.fan, true)).toBe('37/100 done, 2 failed');
    expect(stateLabel({ status: 'running', done: 5, total: 9, failed: 0 }, true)).toBe('5/9 done');
    expect(stateLabel(states.a, false)).toBe('completed');
    expect(stateLabel(undefined, false)).toBe('pending');
  });
});
