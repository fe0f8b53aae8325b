// RefreshDependency: a parent → dependent edge of the refresh graph.
import { builder } from './builder.ts';
import { DependencyType, type DependencyTypeValue } from './enums.ts';

builder.prismaNode('RefreshDependency', {
  id: { field: 'id' },
  // node(id:) of a row that does not exist (deleted, or never was) is null, not an error.
  nullable: true,
  description: 'The dependent is built from the parent, so it refreshes after it.',
  fields: (t) => ({
    databaseId: t.exposeInt('id', { description: 'The row id in sqp.refresh_dependencies.' }),
    dependencyType: t.field({
      type: DependencyType,
      description: 'HARD: the dependent never runs on data from an unhealthy parent; SOFT: it runs anyway.',
      resolve: (d) => (d.dependencyType as DependencyTypeValue | null) ?? 'hard',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', nullable: true, description: 'When the dependency was added.' }),
    parent: t.relation('parent', { nullable: true, description: 'The table refreshed first.' }),
    dependent: t.relation('dependent', { nullable: true, description: 'The table built from the parent, refreshed after it.' }),
  }),
});
