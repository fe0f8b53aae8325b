// nodes(ids:): the objects with these global ids, in order. Relay's own field decodes every id
// before it resolves any, so one garbled id nulled the whole list; here each id is decoded on
// its own — a garbled one is null at its place with an error whose path names that index, a
// well-formed id of a row that does not exist is null, and the rest are loaded together (one
// statement per type, as relay does).
import { resolveNodes } from '@pothos/plugin-relay';
import { builder } from './builder.ts';
import { decodeCanonicalGlobalID } from './global-ids.ts';

builder.queryField('nodes', (t) =>
  t.field({
    type: [builder.nodeInterfaceRef()],
    nullable: { list: false, items: true },
    description: 'The objects with these global ids, in the same order; null for each id whose row does not exist, and for each id this graph never handed out (with an error at its index).',
    args: { ids: t.arg.idList({ required: true, description: 'Global ids, exactly as the graph handed them out.' }) },
    resolve: async (_root, args, ctx, info) => {
      const decoded = args.ids.map((id) => {
        try {
          return { id: decodeCanonicalGlobalID(String(id)) };
        } catch (error) {
          return { error: error as Error };
        }
      });
      const loaded = await resolveNodes(builder, ctx, info, decoded.map((d) => d.id ?? null));
      // A rejected item becomes null at its index, its error reported with that path.
      return decoded.map((d, i) => (d.error ? Promise.reject(d.error) : loaded[i]));
    },
  }),
);
