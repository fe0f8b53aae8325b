// RefreshDependency: a parent → dependent edge of the refresh graph.
import { builder } from './builder.ts';
import { DependencyType, type DependencyTypeValue } from './enums.ts';

builder.prismaNode('RefreshDependency', {
  id: { field: 'id' },
  // node(id:) of a row that does not exist (deleted, or never was) is null, not an error.
  nullable: true,
  description: 'The dependent is built from the parent, so it refreshes after it.',
  fields: (t) => ({
    databaseId: t.exposeInt('id'),
    dependencyType: t.field({
      type: DependencyType,
      resolve: (d) => (d.dependencyType as DependencyTypeValue | null) ?? 'hard',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', nullable: true }),
    parent: t.relation('parent', { nullable: true }),
    dependent: t.relation('dependent', { nullable: true }),
  }),
});
