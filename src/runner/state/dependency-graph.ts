// The dependency graph's walks, for the planner: the cycles among the tables and how deep each
// table sits below its parents. Pure, and iterative rather than recursive: a chain of
// thousands of tables must not exhaust the call stack.

/** An edge as the walks see it: `parentId` refreshes before `dependentId`. */
export interface DependencyEdge {
  parentId: number;
  dependentId: number;
}

/** Finds dependency cycles (Tarjan's strongly connected components of size > 1, or a table that is its own parent). */
export function findCycles<E extends DependencyEdge>(configs: ReadonlyArray<{ id: number }>, edges: readonly E[]): number[][] {
  const out = new Map<number, number[]>();
  for (const e of edges) {
    const list = out.get(e.parentId);
    if (list) list.push(e.dependentId);
    else out.set(e.parentId, [e.dependentId]);
  }
  // Tarjan's algorithm with a stack of frames in place of recursion.
  let index = 0;
  const idx = new Map<number, number>();
  const low = new Map<number, number>();
  const stack: number[] = [];
  const onStack = new Set<number>();
  const cycles: number[][] = [];
  const visit = (root: number) => {
    const frames: Array<{ v: number; next: number }> = [{ v: root, next: 0 }];
    idx.set(root, index);
    low.set(root, index++);
    stack.push(root);
    onStack.add(root);
    while (frames.length) {
      const frame = frames[frames.length - 1]!;
      const { v } = frame;
      const succ = out.get(v) ?? [];
      if (frame.next < succ.length) {
        const w = succ[frame.next++]!;
        if (!idx.has(w)) {
          idx.set(w, index);
          low.set(w, index++);
          stack.push(w);
          onStack.add(w);
          frames.push({ v: w, next: 0 });
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent) low.set(parent.v, Math.min(low.get(parent.v)!, low.get(v)!));
      if (low.get(v) === idx.get(v)) {
        const scc: number[] = [];
        let w: number;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== v);
        if (scc.length > 1 || succ.includes(v)) cycles.push(scc.reverse());
      }
    }
  };
  for (const c of configs) if (!idx.has(c.id)) visit(c.id);
  return cycles;
}

/** Longest chain of parents above a table, computed on demand and remembered (iterative: chains may be thousands long). */
export function dependencyDepths(parents: ReadonlyMap<number, readonly DependencyEdge[]>): (id: number) => number {
  const depth = new Map<number, number>();
  return (id) => {
    if (depth.has(id)) return depth.get(id)!;
    const frames: Array<{ id: number; next: number; d: number }> = [{ id, next: 0, d: 0 }];
    const onPath = new Set<number>([id]);
    while (frames.length) {
      const f = frames[frames.length - 1]!;
      const ps = parents.get(f.id) ?? [];
      if (f.next < ps.length) {
        const p = ps[f.next++]!.parentId;
        if (depth.has(p)) f.d = Math.max(f.d, depth.get(p)! + 1);
        else if (!onPath.has(p)) {
          onPath.add(p);
          frames.push({ id: p, next: 0, d: 0 });
        } // a parent on the current path closes a cycle: it does not count
        continue;
      }
      frames.pop();
      onPath.delete(f.id);
      depth.set(f.id, f.d);
      const child = frames[frames.length - 1];
      if (child) child.d = Math.max(child.d, f.d + 1);
    }
    return depth.get(id)!;
  };
}
